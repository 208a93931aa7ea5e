printf 'resources:\n- ok.yaml\n- git::%s/org/repo.git//base?ref=main\n' "$LISTENER" > deploy/base/kustomization.yaml
git add deploy && git commit -qm remote

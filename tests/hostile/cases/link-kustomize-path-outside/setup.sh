# a folder outside the repository named by a relative path (kustomize accepts bases outside the kustomization root)
rel=$(realpath --relative-to="$REPO/deploy" "$OUTSIDE")
printf 'resources:\n- ok.yaml\n- %s\n' "$rel" > deploy/kustomization.yaml
git add deploy && git commit -qm base

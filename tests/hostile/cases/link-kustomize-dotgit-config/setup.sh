git config http.https://git.example.com/.extraheader "AUTHORIZATION: basic $(cat "$OUTSIDE/secret.txt")"
cat > kustomization.yaml <<'YAML'
configMapGenerator:
- name: leak
  files:
  - .git/config
YAML

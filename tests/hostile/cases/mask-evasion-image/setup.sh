kubectl-gitops secrets init --key-file "$HOME/keys.txt" --dir . --path-regex '.*' >/dev/null
cat > deploy/decoy-secret.yaml <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: decoy
  namespace: default
stringData:
  x: evil.example/miner:1.0
YAML
SOPS_AGE_KEY_FILE="$HOME/keys.txt" kubectl-gitops secrets encrypt -i deploy/decoy-secret.yaml
if grep -q miner deploy/decoy-secret.yaml; then exit 1; fi

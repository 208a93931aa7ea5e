# the values are canaries: the suite fails if any form of one reaches any output
kubectl-gitops secrets init --key-file "$HOME/keys.txt" --dir . --path-regex '.*' >/dev/null
mkdir -p deploy
cat > deploy/app-config.yaml <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: default
  annotations:
    owner: team-a
data:
  pem: |
    -----BEGIN KEY-----
    CANARY-pem-line-one-71c2
    CANARY-pem-line-two-0d9e
    -----END KEY-----
  quoted: 'CANARY-it''s-quoted-4b1a'
  escaped: "CANARY-\"esc\"-\u00e4-\t-9f3c"
  short: "C9"
YAML
SOPS_AGE_KEY_FILE="$HOME/keys.txt" kubectl-gitops secrets encrypt -i deploy/app-config.yaml
if grep -q CANARY deploy/app-config.yaml; then exit 1; fi

kubectl-gitops secrets init --key-file "$HOME/keys.txt" --dir . --path-regex '.*' >/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$HOME/keys.txt" | head -n 1)
printf 'creation_rules:\n  - path_regex: .*\n    encrypted_regex: ^(value)$\n    age: %s\n' "$recipient" > .sops.yaml
mkdir -p deploy
cat > deploy/web.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env:
        - name: TOKEN
          value: CANARY-env-token-5d2b
YAML
SOPS_AGE_KEY_FILE="$HOME/keys.txt" kubectl-gitops secrets encrypt -i deploy/web.yaml
if grep -q CANARY deploy/web.yaml; then exit 1; fi

kubectl-gitops secrets init --key-file "$HOME/keys.txt" --dir . --path-regex '.*' >/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$HOME/keys.txt" | head -n 1)
printf 'creation_rules:\n  - path_regex: .*\n    encrypted_regex: ^(type)$\n    age: %s\n' "$recipient" > .sops.yaml
mkdir -p deploy
cat > deploy/web.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: secret-svc-type-3a7c
  selector: {app: web}
  ports:
  - port: 80
YAML
SOPS_AGE_KEY_FILE="$HOME/keys.txt" kubectl-gitops secrets encrypt -i deploy/web.yaml
if grep -q secret-svc-type deploy/web.yaml; then exit 1; fi

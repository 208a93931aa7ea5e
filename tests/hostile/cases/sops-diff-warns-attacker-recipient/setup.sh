# a team repository: an age key under $HOME, a .sops.yaml naming it, an encrypted Secret
kubectl-gitops secrets init --key-file "$HOME/keys.txt" >/dev/null 2>&1
kubectl-gitops secrets encrypt -i deploy/db-secret.yaml 2>/dev/null
git add -A && git commit -qm "encrypted secret"
# the pull request: one more recipient in sops.age (not covered by the MAC), with no wrapped key
sed -i 's/^  age:$/  age:\n  - recipient: age1lllkcpydxppg3u9d42avp5vfvap0f2qckejeevmjfez0p4yplykqlr6aa6\n    enc: ""/' deploy/db-secret.yaml
grep -q 'age1lllkcpydxppg3u9d42avp5vfvap0f2qckejeevmjfez0p4yplykqlr6aa6' deploy/db-secret.yaml

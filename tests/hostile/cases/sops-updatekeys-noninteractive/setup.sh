# a team repository: an age key under $HOME, a .sops.yaml naming it, an encrypted Secret
kubectl-gitops secrets init --key-file "$HOME/keys.txt" >/dev/null 2>&1
kubectl-gitops secrets encrypt -i deploy/db-secret.yaml 2>/dev/null
git add -A && git commit -qm "encrypted secret"
# the pull request adds its key to .sops.yaml, hoping a CI job runs updatekeys
sed -i 's/^\(    age: .*\)$/\1,age1lllkcpydxppg3u9d42avp5vfvap0f2qckejeevmjfez0p4yplykqlr6aa6/' .sops.yaml
grep -q 'age1lllkcpydxppg3u9d42avp5vfvap0f2qckejeevmjfez0p4yplykqlr6aa6' .sops.yaml

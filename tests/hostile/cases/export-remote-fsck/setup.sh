. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

up=$( { entry 100644 planted.yaml "$payload"; } | tree)
commit "$( { entry 40000 .. "$up"; entry 40000 deploy "$deploy"; } | tree)"

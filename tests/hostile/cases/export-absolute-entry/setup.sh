. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

commit "$( { entry 100644 "$OUTSIDE/secret.yaml" "$payload"; entry 40000 deploy "$deploy"; } | tree)"

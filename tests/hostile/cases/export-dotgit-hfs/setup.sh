. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

dotgit=$( { entry 100644 config "$payload"; } | tree)
commit "$( { entry 40000 "$(printf '.g\xe2\x80\x8cit')" "$dotgit"; entry 40000 deploy "$deploy"; } | tree)"

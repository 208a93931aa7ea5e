. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

config=$(printf '[core]\n\tfsmonitor = "touch $OUTSIDE/pwned"\n' | blob)
dotgit=$( { entry 100644 config "$config"; } | tree)
commit "$( { entry 40000 deploy "$( { entry 40000 .git "$dotgit"; entry 100644 a.yaml "$(git rev-parse HEAD:deploy/a.yaml)"; } | tree)"; } | tree)"

. "${BASH_SOURCE%/*}/../../crafted.sh"  # blob, entry, tree, commit
deploy=$(git rev-parse HEAD:deploy)
payload=$(printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n" | blob)

hooks=$( { entry 100755 post-checkout "$(printf '#!/bin/sh\ntouch "$OUTSIDE/pwned"\n' | blob)"; } | tree)
dotgit=$( { entry 40000 hooks "$hooks"; } | tree)
commit "$( { entry 40000 .GIT. "$dotgit"; entry 40000 deploy "$deploy"; } | tree)"

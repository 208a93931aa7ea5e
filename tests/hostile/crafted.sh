# Sourced by the setup.sh of corpus cases that hand-build git trees as an attacker would:
# `git hash-object --literally` takes any entry name (`..`, `.git`, absolute, ...), which git's own commands refuse.
blob() { git hash-object -w --stdin; }                        # stdin -> blob id
entry() { printf "%s %s\0" "$1" "$2"; printf "$(printf %s "$3" | sed "s/../\\\\x&/g")"; }   # MODE NAME ID
tree() { git hash-object -t tree --literally -w --stdin; }    # entries on stdin -> tree id
commit() { git update-ref HEAD "$(git commit-tree "$1" -p HEAD -m crafted)"; }   # TREE -> a new HEAD

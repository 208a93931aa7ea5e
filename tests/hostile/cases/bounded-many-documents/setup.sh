# 200,000 tiny documents in one file (a 1.4 MB file): each costs parser events, objects and validation
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n'; seq 200000 | sed 's/.*/--- {}/'; } > many.yaml
git add many.yaml && git commit -qm many

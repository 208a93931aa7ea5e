# a 40 MB ConfigMap value (the API server takes at most ~3 MB per object), generated, not committed to our tree
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: "'
  head -c 40000000 /dev/zero | tr '\0' x; printf '"\n'; } > big.yaml
git add big.yaml && git commit -qm big

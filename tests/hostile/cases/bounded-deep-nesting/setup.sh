# a ConfigMap whose annotation value nests 500 flow sequences: recursive loaders overflow the stack
{ printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  k: '
  head -c 500 /dev/zero | tr '\0' '['; head -c 500 /dev/zero | tr '\0' ']'; printf '\n'; } > deep.yaml
git add deep.yaml && git commit -qm deep

# Synced in full, then the record loses data.sources (as one written before sources were recorded).
id=$(printf %s "$TMP" | sha256sum | cut -c1-10)
for f in a b c; do
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prune-old-%s-%s\ndata:\n  k: "1"\n' "$id" "$f" > "$f.yaml"
done
git add a.yaml b.yaml c.yaml && git commit -qm "three files"
kubectl gitops sync >/dev/null
record=$(kubectl get secret -o name | grep "kubectl-gitops.repo-" | while read -r s; do
  if kubectl get "$s" -o jsonpath='{.data.sources}' | base64 -d | grep -q "prune-old-$id-a"; then echo "$s"; fi; done)
kubectl patch "$record" --type=json -p '[{"op": "remove", "path": "/data/sources"}]' >/dev/null

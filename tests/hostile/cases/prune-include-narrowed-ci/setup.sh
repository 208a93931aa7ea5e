# Three ConfigMaps in three files (names unique per run, in the context's namespace), synced in full by the
# derived app of this repository; the case then prunes with --include a.yaml (before: b and c were deleted).
id=$(printf %s "$TMP" | sha256sum | cut -c1-10)
for f in a b c; do
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prune-ci-%s-%s\ndata:\n  k: "1"\n' "$id" "$f" > "$f.yaml"
done
git add a.yaml b.yaml c.yaml && git commit -qm "three files"
kubectl gitops sync >/dev/null

# the export is $TMPDIR/<folder>: d is its root, d2 is $TMPDIR, d3 is $TMP, which holds the canary folder
ln -s .. deploy/d
ln -s d/.. deploy/d2
ln -s d2/.. deploy/d3
ln -s "d3/$(basename "$OUTSIDE")/secret.yaml" deploy/leak.yaml
git add deploy && git commit -q -m links

# deploy/d points at the folder holding the repository; x.yaml goes through it to the canary
ln -s ../.. deploy/d
ln -s "d/$(realpath --relative-to="$(dirname "$REPO")" "$OUTSIDE")/secret.yaml" deploy/x.yaml

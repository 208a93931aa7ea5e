ln -s "$OUTSIDE/secret.yaml" deploy/leak.yaml
git add deploy && git commit -q -m link

ln -s "$OUTSIDE/secret.yaml" deploy/leak.yaml

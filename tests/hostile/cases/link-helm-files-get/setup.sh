mkdir -p deploy/files && ln -s "$OUTSIDE/secret.txt" deploy/files/k

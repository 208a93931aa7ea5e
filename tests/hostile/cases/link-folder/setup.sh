ln -s "$OUTSIDE" deploy/ext

ln -s "$OUTSIDE" lib

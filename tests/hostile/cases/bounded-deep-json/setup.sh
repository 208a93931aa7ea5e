mkdir -p deploy
python3 -c "print('{\"a\":' * 100000 + '1' + '}' * 100000)" > deploy/deep.json

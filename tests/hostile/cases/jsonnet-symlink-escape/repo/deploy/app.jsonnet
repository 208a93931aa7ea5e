{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'stolen'},
 data: {token: importstr '../lib/secret.txt'}}

{
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: {name: 'stolen'},
  data: {token: importstr '../../outside/secret.txt'},
}

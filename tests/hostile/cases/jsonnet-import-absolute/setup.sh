# the path is only known at run time: write the file here
cat > deploy/app.jsonnet <<JSONNET
{
  apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'stolen'},
  data: {config: importstr '$OUTSIDE/config', yaml: std.toString(import '$OUTSIDE/secret.yaml')},
}
JSONNET

local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1);
{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}, data: {n: std.toString(f(60))}}

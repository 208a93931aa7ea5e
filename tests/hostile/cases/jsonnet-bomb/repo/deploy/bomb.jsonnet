std.makeArray(100000000, function(i) {kind: 'ConfigMap'})

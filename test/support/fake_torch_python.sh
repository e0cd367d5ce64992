#!/bin/sh
# Stands in for `python3` with PyTorch in the end-to-end test of scripts/gpu-check.js: `compare` runs the
# real gpu_check_torch.py with the numpy reference; `bench` writes PyTorch-shaped timings (1 ms each).
command="$2"
if [ "$command" = compare ]; then
  exec python3 "$@" --backend numpy
fi
out=""
configs=""
while [ $# -gt 0 ]; do
  case "$1" in --out) out="$2"; shift ;; --configs) configs="$2"; shift ;; esac
  shift
done
exec python3 - "$configs" "$out" << 'PY'
import json, sys
c = json.load(open(sys.argv[1]))
r = {"torch": "fake", "cudnn": 0, "device": "fake",
     "sequences": [dict(s, seconds=1e-3, deviceSeconds=1e-3) for s in c["sequences"]],
     "stateful": [dict(s, seconds=1e-3) for s in c["stateful"]],
     "latency": dict(c["latency"], p50=1e-3, p99=2e-3)}
json.dump(r, open(sys.argv[2], "w"))
PY

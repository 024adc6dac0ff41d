#!/bin/sh
# GPU validation in one go, for a CUDA machine with PyTorch and no Node (see README, "GPU"):
# builds the addon against the machine's PyTorch (CUDA), runs the test suite (its CUDA
# parity tests run there) and the kernel and training benchmarks, and packs the CUDA variant
# package (npm run prebuild). Results under $OUT (or
# ./gpu-results). From the repository root, after `source .portable/unpack.sh`.
set -u
out=${OUT:-gpu-results}
mkdir -p "$out"
status=0
run() { # name, command...
  name=$1; shift
  echo "== $name: $*"
  "$@" > "$out/$name.log" 2>&1 || { status=1; echo "   failed (see $out/$name.log)"; }
  tail -n 30 "$out/$name.log"
}
run build node scripts/install.mjs --build-from-source
run info node dist/cli.js info
# The CUDA variant package for this machine's LibTorch (e.g. linux-x64-torch2.11-cu130), back in $OUT.
run prebuild sh -c 'node scripts/prebuild.mjs --no-build --out .prebuilds && cp .prebuilds/lemur-node-*.tgz "$0"' "$out"
# (the CPU emulation of the CUDA kernels is for machines without a GPU: skipped here)
run test-native npx vitest run test/native --exclude test/native/cuda_emulation.test.ts
run test-model npx vitest run test/model
run bench-kernels node bench/kernels.mjs --device cuda --json "$out/kernels.json"
run bench-train node bench/train.mjs --device cuda --size gpu --steps 30 --json "$out/train.json"
run bench-data node bench/data.mjs
exit $status

#!/bin/sh
# GPU validation in one go, for a CUDA machine with PyTorch and no Node (see README, "GPU"):
# builds the addon against the machine's PyTorch (CUDA, NCCL), runs the CUDA tests (kernel
# parity, NCCL and Gloo collectives on the GPU, a data-parallel job on it), packs the CUDA
# variant package (npm run prebuild), and runs the kernel, peer and training benchmarks.
# Most important first, each step under its own time limit, so a short device lease still
# brings back the essentials. Results under $OUT (or ./gpu-results): the variant package,
# summary.txt, and every log and JSON in results.tgz (the device tool brings back 8 files at
# most). From the repository root, after `source .portable/unpack.sh`.
#
#   sh scripts/gpu-check.sh                 # every step (about 10 to 30 minutes)
#   sh scripts/gpu-check.sh build info test-native test-collectives   # only these steps
#
# The device tool allows 10 minutes a command: split the steps over two calls (the build
# stays on a warm machine between them). The GPU machine has no Node and no TypeScript
# compiler: run `npx tsc -p tsconfig.json` and ../shared/scripts/pack-portable.sh here, and
# carry ".portable" and "dist" (2026-12-04: 24 + 33 MB packed, 1.3 MB dist, 2.3 MB of
# tracked files: just under the tool's 64 MiB).
set -u
only=" $* "
dest=${OUT:-gpu-results}
out=$(mktemp -d)
mkdir -p "$dest"
: > "$dest/summary.txt"
status=0
finish() {
  tar czf "$dest/results.tgz" -C "$out" . 2>/dev/null
  }
trap finish EXIT
run() { # name, seconds, command...
  name=$1; limit=$2; shift 2
  case "$only" in "  ") ;; *" $name "*) ;; *) return 0 ;; esac
  echo "== $name (<= ${limit}s): $*"
  t0=$(date +%s)
  if timeout "$limit" "$@" > "$out/$name.log" 2>&1; then r=ok; else r="FAILED (exit $?)"; status=1; fi
  echo "$name: $r in $(( $(date +%s) - t0 )) s" | tee -a "$dest/summary.txt"
  tail -n 15 "$out/$name.log"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1
run build 420 node scripts/install.mjs --build-from-source
run info 30 node dist/cli.js info
# CUDA kernels against their CPU references (the CPU emulation of CUDA kernels is for machines without a GPU)
run test-native 180 npx vitest run test/native --exclude test/native/cuda_emulation.test.ts
# NCCL in a world of one and two ranks sharing the GPU over Gloo (collectives.test.ts), and
# a two-rank job on the GPU equal to one process (Gloo; NCCL needs one GPU per rank)
run test-collectives 120 npx vitest run test/distributed/collectives.test.ts
run test-data-parallel-cuda 240 env LEMUR_TEST_DEVICE=cuda LEMUR_DIST_BACKEND=gloo LEMUR_TEST_TOL=1e-4 npx vitest run test/distributed/data_parallel.test.ts -t "2 ranks x batch 32"
# The CUDA variant package for this machine's LibTorch (e.g. linux-x64-torch2.11-cu130), back in $OUT.
run prebuild 120 sh -c 'node scripts/prebuild.mjs --no-build --out .prebuilds && cp .prebuilds/lemur-node-*.tgz "$0"' "$dest"
run bench-kernels 150 node bench/kernels.mjs --device cuda --json "$out/kernels.json"
run bench-peer 300 node bench/peer/run.mjs --device cuda --seeds 1 --no-parity --python python3 --json "$out/peer.json"
run test-model 300 npx vitest run test/model
run bench-train 200 node bench/train.mjs --device cuda --size gpu --steps 30 --json "$out/train.json"

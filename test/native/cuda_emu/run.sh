#!/bin/sh
# Checks the CUDA kernels' logic on the CPU: rewrites the launches of native/ops/**/*.cu{,h}
# for the emulation in include/, compiles them with g++ and runs test_kernels.cpp.
#   sh test/native/cuda_emu/run.sh        (a minute or two; needs g++ >= 12)
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/native"
cp -r "$root/native/ops" "$work/native/"
find "$work/native" \( -name '*.cu' -o -name '*.cuh' \) -exec sed -i \
  -e 's/<<<\(.*\)>>>/ * emu::LaunchCfg{\1}/' \
  -e 's/extern __shared__ \(__align__([0-9]*) \)\{0,1\}float4 \([a-z_0-9]*\)\[\];/float4* \2 = emu::smem<float4>();/' {} +
objs=""
for f in ragged_attention/cuda/ragged_attention_kernel bank_attention/cuda/bank_attention_kernel \
         memory_bank/cuda/memory_bank_kernel expand_rows/cuda/expand_rows_kernel; do
  o="$work/$(basename $f).o"
  g++ -std=c++20 -O1 -pthread -I"$here/include" -I"$work/native" -x c++ -c "$work/native/ops/$f.cu" -o "$o"
  objs="$objs $o"
done
g++ -std=c++20 -O1 -pthread -I"$here/include" -I"$work/native" "$here/test_kernels.cpp" $objs -o "$work/test_kernels"
"$work/test_kernels"

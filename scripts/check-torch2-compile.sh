#!/bin/sh
# Compile check of every native source against a LibTorch 2.x with CUDA and NCCL, on a machine
# without either: the CUDA build of the GPU machine (PyTorch 2.11) must not find its compile
# errors in the few minutes a GPU is lent. Fetches Debian trixie's libtorch-cuda-dev (2.6),
# libnccl-dev, libgloo-dev and libfmt-dev headers (no libraries) into a cache, stubs the
# handle types of the CUDA math libraries ATen's CUDA headers name (only the CUDA runtime
# headers of nvcc's toolkit are here), and runs g++ -fsyntax-only on each translation unit
# with the definitions a CUDA + NCCL build sets. Needs network access to deb.debian.org.
#
#   sh scripts/check-torch2-compile.sh [-j N] [file.cpp ...]
set -eu
cd "$(dirname "$0")/.."
jobs=2
if [ "${1:-}" = "-j" ]; then jobs=$2; shift 2; fi
cache=${LEMUR_TORCH2_CACHE:-$HOME/.cache/lemur-torch2-headers}
root=$cache/root
mirror=http://deb.debian.org/debian
if [ ! -f "$cache/.done" ]; then
  mkdir -p "$cache"
  for pkg in contrib:libtorch-cuda-dev contrib:libnccl-dev main:libgloo-dev main:libfmt-dev; do
    comp=${pkg%%:*}; name=${pkg#*:}
    [ -f "$cache/Packages-$comp" ] || curl -sf "$mirror/dists/trixie/$comp/binary-amd64/Packages.xz" | xz -dc > "$cache/Packages-$comp"
    file=$(awk -v p="$name" '/^Package: /{n=$2} /^Filename: /{if (n == p) {print $2; exit}}' "$cache/Packages-$comp")
    [ -n "$file" ] || { echo "no $name in trixie/$comp" >&2; exit 1; }
    echo "fetching $file"
    curl -sf "$mirror/$file" -o "$cache/$name.deb"
    dpkg-deb -x "$cache/$name.deb" "$root"
    rm -f "$cache/$name.deb"
  done
  mkdir -p "$cache/stubs"
  cat > "$cache/stubs/lemur_cuda_math_stubs.h" <<'STUB'
// Handle and status types of the CUDA math libraries, for a syntax check only.
#pragma once
typedef struct cusparseContext* cusparseHandle_t;
typedef struct cublasContext* cublasHandle_t;
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cusolverDnContext* cusolverDnHandle_t;
typedef int cusolverStatus_t;
typedef int cublasStatus_t;
typedef int cusparseStatus_t;
STUB
  for h in cusparse.h cublas_v2.h cublasLt.h cusolverDn.h cublas.h cusolver_common.h; do
    printf '#pragma once\n#include "lemur_cuda_math_stubs.h"\n' > "$cache/stubs/$h"
  done
  touch "$cache/.done"
fi
cuda_inc=$(dirname "$(dirname "$(command -v nvcc)")")/include
[ -f "$cuda_inc/cuda_runtime_api.h" ] || cuda_inc=/usr/local/cuda/include
[ -f build/generated/lemur_build_config.h ] || { echo "build/generated/lemur_build_config.h is missing: build once first (npm ci)" >&2; exit 1; }
napi=$(node -p "require('node-addon-api').include_dir")
napih=$(node -p "require('node-api-headers').include_dir")
inc=$root/usr/include
flags="-std=c++17 -fopenmp -fsyntax-only -Wall -Wno-unused-parameter -D_GLIBCXX_USE_CXX11_ABI=1 -DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL -DNODE_ADDON_API_DISABLE_DEPRECATED -DLEMUR_WITH_CUDA=1 -DLEMUR_DISTRIBUTED_GLOO=1 -DLEMUR_DISTRIBUTED_NCCL=1 -DLEMUR_WITH_GLOO=1 -DUSE_C10D_GLOO=1 -DLEMUR_WITH_NCCL=1 -DUSE_C10D_NCCL=1 -Inative -Ibuild/generated -I$napi -I$napih -I$inc -I$inc/torch/csrc/api/include -I$cuda_inc -I$cache/stubs"
[ $# -gt 0 ] || set -- $(find native -name '*.cpp' | sort)
echo "torch $(awk '/define TORCH_VERSION_MAJOR/{a=$3} /define TORCH_VERSION_MINOR/{b=$3} END{print a "." b}' "$inc/torch/csrc/api/include/torch/version.h") headers, CUDA runtime headers from $cuda_inc; $# files, $jobs at a time"
status=0
printf '%s\n' "$@" | xargs -P "$jobs" -I{} sh -c "g++ $flags {} > /tmp/lemur-torch2-\$(echo {} | tr / _).log 2>&1 && echo 'ok    {}' || { echo 'FAIL  {}'; grep -m5 error: /tmp/lemur-torch2-\$(echo {} | tr / _).log; exit 1; }" || status=1
exit $status

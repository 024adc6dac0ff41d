#!/bin/sh
# Set-up for a fresh Debian 12 / Ubuntu 24.04 machine: the system packages lemur builds
# against (C++ toolchain, CMake, LibTorch, OpenBLAS, and the gloo headers c10d's distributed
# backend needs). Installs what is missing when run as
# root; otherwise prints the one command to run. Safe to run again.
set -eu
pkgs="g++ make cmake libtorch-dev libopenblas0 libgloo-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "lemur setup: system packages present ($pkgs)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "lemur setup: no apt-get here. Install a C++17 compiler, CMake >= 3.18 and LibTorch" >&2
  echo "  (set LIBTORCH=/path/to/libtorch, or have a Python PyTorch), then run npm ci." >&2
  exit 1
fi
cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "lemur setup: missing system packages:$missing" >&2
  echo "  run:  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "lemur setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "lemur setup: done"

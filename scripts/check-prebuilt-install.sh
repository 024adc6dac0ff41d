#!/usr/bin/env bash
# Checks, by hand before a release, that `npm install` of lemur needs no compiler where a
# prebuilt variant fits: packs this machine's variant (npm run prebuild) and lemur as it is
# published (npm run pack:release: the variants in its optionalDependencies, this one and the
# CUDA one, which is not built here), then in a fresh Debian 12 root
# (../shared/scripts/fresh-machine.sh) with only `libtorch-dev libopenblas0` from apt and no
# g++ and no cmake:
#   1. installs lemur's tarball into an empty project (timed) with the @lemur-node scope
#      pointed at a local registry that serves this machine's variant and lacks the CUDA one
#      (scripts/scope-registry.mjs: the registry after the CPU variant is published): npm must
#      bring the variant along by itself and skip the absent one, `npx lemur info` must name
#      the prebuilt, `npx lemur demo --quick` must complete, and a TypeScript file importing
#      lemur must type-check with tsc --strict (ESM, the shipped .d.ts); and with
#      --ignore-scripts (no install step) lemur must still load the variant, chosen at load time;
#   2. with a LibTorch no prebuilt matches ($LIBTORCH at a fake 9.9.9), `npm rebuild lemur`
#      must fail with the one command that fixes it;
#   3. with g++ and cmake installed, the same falls back to a source build (checked up to
#      the build's start: the build itself is what CI runs).
# usage: sh scripts/check-prebuilt-install.sh   (as root; FRESH=path/to/fresh-machine.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
FRESH=${FRESH:-../shared/scripts/fresh-machine.sh}
RUN=${FRESH_RUN:-/var/tmp/fresh-run}
step() { printf '\n== %s\n' "$*"; }

step "packing the variant for this machine's LibTorch, and lemur as published"
mkdir -p .prebuilds
rm -f .prebuilds/lemur-[0-9]*.tgz
node scripts/prebuild.mjs --no-build
node scripts/pack-release.mjs --variant linux-x64-torch2.11-cu130
ls -l .prebuilds/*.tgz

step "a fresh Debian 12 with libtorch-dev libopenblas0, no compiler"
[ -d "${FRESH_BASE:-/var/tmp/fresh-root}/usr" ] || bash "$FRESH" init
bash "$FRESH" new >/dev/null
mkdir -p "$RUN/root/app"
cp .prebuilds/*.tgz scripts/scope-registry.mjs "$RUN/root/app/"
bash "$FRESH" run 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libtorch-dev libopenblas0 >/dev/null
  if command -v g++ || command -v c++ || command -v cmake; then echo "a compiler or cmake is installed: not the test we want"; exit 1; fi'

step "1. npm install of lemur: the variant comes as an optional dependency"
# The project's .npmrc points the scope at the local registry (running during each npm call).
cat > "$RUN/root/app/registry.sh" <<'SH'
node /root/app/scope-registry.mjs /root/app --port 4873 > /tmp/registry.txt 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null' EXIT
sleep 1; cat /tmp/registry.txt
SH
bash "$FRESH" run 'cd /root/app && npm init -y >/dev/null && echo "@lemur-node:registry=http://127.0.0.1:4873/" > .npmrc &&
  . ./registry.sh && start=$(date +%s.%N) &&
  npm install --no-audit --no-fund ./lemur-[0-9]*.tgz 2>&1 | tail -n 5 &&
  echo "install time: $(node -e "console.log((Date.now()/1000 - $start).toFixed(1))") s" &&
  echo "variants installed: $(ls node_modules/@lemur-node)" && [ ! -e node_modules/@lemur-node/linux-x64-torch2.11-cu130 ] &&
  npx lemur info | tee /tmp/info.txt && grep -q "binary: prebuilt @lemur-node/" /tmp/info.txt &&
  start=$(date +%s) && npx lemur demo --quick --out /root/app/demo >/tmp/demo.txt 2>&1; rc=$?; tail -n 4 /tmp/demo.txt;
  echo "demo --quick: exit $rc in $(( $(date +%s) - start )) s"; exit $rc'

step "1b. a TypeScript consumer type-checks against the shipped .d.ts (ESM)"
bash "$FRESH" run 'cd /root/app && . ./registry.sh && npm pkg set type=module >/dev/null && npm install --no-audit --no-fund --silent typescript@5 @types/node@20 &&
  cat > index.ts <<TS
import { Lemur, resolveConfig, type LemurConfigInput, type Evaluation } from "lemur";
const config: LemurConfigInput = { preset: "lemur", train: { epochs: 1 } };
const resolved = resolveConfig(config);
export async function run(dir: string): Promise<Evaluation> {
  const { openDataset } = await import("lemur");
  const model = await Lemur.create(openDataset(dir), resolved);
  await model.fit({ epochs: 1 });
  return model.evaluate("test");
}
TS
  npx tsc --noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 --skipLibCheck false index.ts && echo "index.ts type-checks"'

step "1c. npm install --ignore-scripts: the prebuilt is chosen when lemur loads"
bash "$FRESH" run 'mkdir -p /root/app2 && cd /root/app2 && npm init -y >/dev/null && cp /root/app/.npmrc . &&
  . /root/app/registry.sh && npm install --no-audit --no-fund --ignore-scripts /root/app/lemur-[0-9]*.tgz 2>&1 | tail -n 2 &&
  [ ! -e node_modules/lemur/build ] && npx lemur info | tee /tmp/info2.txt | head -n 2 &&
  grep -q "binary: prebuilt @lemur-node/.*chosen at load time" /tmp/info2.txt &&
  npx lemur demo --quick --out /root/app2/demo >/tmp/demo2.txt 2>&1; rc=$?; tail -n 1 /tmp/demo2.txt; exit $rc'

step "2. a LibTorch without a prebuilt, no compiler: the fixing command"
bash "$FRESH" run 'set +e; cd /root/app && mkdir -p /opt/fake/share/cmake/Torch /opt/fake/lib /opt/fake/include/torch &&
  printf "#define TORCH_VERSION_MAJOR 9\n#define TORCH_VERSION_MINOR 9\n#define TORCH_VERSION_PATCH 9\n" > /opt/fake/include/torch/version.h &&
  touch /opt/fake/share/cmake/Torch/TorchConfig.cmake /opt/fake/lib/libtorch_cpu.so &&
  rm -f node_modules/lemur/build/Release/lemur.node &&
  LIBTORCH=/opt/fake npm rebuild lemur >/tmp/rebuild.txt 2>&1; rc=$?; grep "lemur:" /tmp/rebuild.txt; echo "exit $rc";
  [ $rc -ne 0 ] && grep -q "apt-get install -y --no-install-recommends cmake g++ make" /tmp/rebuild.txt'

step "3. the same with g++ and cmake: a source build starts"
bash "$FRESH" run 'set +e; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake g++ make >/dev/null;
  cd /root/app && LIBTORCH=/opt/fake timeout 120 npm rebuild lemur >/tmp/rebuild2.txt 2>&1; grep -m2 "lemur:" /tmp/rebuild2.txt;
  grep -q "building the native addon from source" /tmp/rebuild2.txt'
step "all checks passed"

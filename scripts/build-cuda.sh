#!/usr/bin/env bash
# Builds the CUDA `train` binary on a machine WITHOUT a GPU or a system CUDA toolkit, and packs it
# with release builds of the CPU stage binaries into .gpu/ (git-ignored), the folder that travels
# to a GPU machine, where scripts/gpu-check.sh runs the chain with it.
#
#   scripts/build-cuda.sh            # from anywhere; idempotent, reruns rebuild only what changed
#
# Recipe (the project notes beside the checkout, ../shared/RUST-NOTES.md, "Building the CUDA binary
# on a machine without a GPU"):
#   1. a venv with NVIDIA's CUDA 13.0 toolkit wheels from PyPI (nvcc, cudart, cublas, curand, ...);
#   2. unversioned libX.so links beside the wheels' libX.so.N, which the linker needs;
#   3. a link-time stub of the driver library (libcuda.so, soname libcuda.so.1) in the wheel's
#      lib/stubs, where cudarc's build script looks under CUDA_HOME;
#   4. cargo build --release -p train -p probe with their `cuda` features, in its own target folder;
#   5. cargo build --release --workspace --bins for the CPU stages (normal target folder);
#   6. the seven stage binaries, stripped and xz-compressed, in .gpu/ (about 26 MiB; the GPU
#      machine unpacks them: scripts/gpu-check.sh does).
#
# Settings (environment):
#   CUDA_VENV         the toolkit venv, created when missing   [$HOME/.cache/factlab/cuda-venv]
#   CUDA_TARGET_DIR   cargo target folder of the CUDA build     [<repo>/target/cuda]
#   CPU_TARGET_DIR    cargo target folder of the CPU stages     [$CARGO_TARGET_DIR or <repo>/target]
#   CPU_PROFILE       cargo profile of the CPU stages: release, or dev (what `make` builds and
#                     runs; often already built)                 [release]
#   CUDA_COMPUTE_CAP  GPU generation to compile kernels for      [90: H100/H200]
#   CUDAFORGE_THREADS parallel nvcc jobs                         [2]
#   CARGO_BUILD_JOBS  parallel rustc jobs                        [cargo's default]
#   NICE              niceness of the compiles                   [19]
#   GPU_DIR           output folder                              [<repo>/.gpu]
#   GPU_DIR_MAX_MIB   fail when the output folder is larger      [60]
#   SKIP_CPU_STAGES=1 only the CUDA train binary
#   FACTLAB_SRC       source tree to build [this repo]; e.g. a `git archive HEAD` snapshot when
#                     the working tree is mid-edit (the target folders are shared, deps reused)
set -euo pipefail

say() { printf '[build-cuda %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[build-cuda] ERROR: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CUDA_VENV=${CUDA_VENV:-$HOME/.cache/factlab/cuda-venv}
SRC=$(cd "${FACTLAB_SRC:-$ROOT}" && pwd) || die "no source tree ${FACTLAB_SRC:-}"
[ -f "$SRC/Cargo.toml" ] || die "no Cargo.toml in $SRC"
CUDA_TARGET_DIR=${CUDA_TARGET_DIR:-$ROOT/target/cuda}
CPU_TARGET_DIR=${CPU_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
CPU_PROFILE=${CPU_PROFILE:-release}
case "$CPU_PROFILE" in
  release) CPU_PROFILE_DIR=release ;;
  dev) CPU_PROFILE_DIR=debug ;;
  *) die "CPU_PROFILE=$CPU_PROFILE: expected release or dev" ;;
esac
GPU_DIR=${GPU_DIR:-$ROOT/.gpu}
GPU_DIR_MAX_MIB=${GPU_DIR_MAX_MIB:-60}
NICE=${NICE:-19}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-2}
CUDA_PIP_SPEC='cuda-toolkit[nvcc,cudart,cccl,crt,nvvm,cublas,curand,nvrtc]==13.0.2'
STAGES="gen-facts inject train probe fit plot preset"
# the stages that run models, built with candle's CUDA kernels
CUDA_STAGES="train probe"

for tool in cargo python3 cc strip; do
  command -v "$tool" >/dev/null || die "'$tool' is not on PATH"
done
case "$CUDA_TARGET_DIR" in /*) ;; *) CUDA_TARGET_DIR=$ROOT/$CUDA_TARGET_DIR ;; esac
case "$CPU_TARGET_DIR" in /*) ;; *) CPU_TARGET_DIR=$ROOT/$CPU_TARGET_DIR ;; esac

# ---------------------------------------------------------------------------------- 1. toolkit
if [ ! -x "$CUDA_VENV/bin/python" ]; then
  say "creating the CUDA toolkit venv at $CUDA_VENV (about 1.2 GB)"
  mkdir -p "$(dirname "$CUDA_VENV")"
  python3 -m venv "$CUDA_VENV" || die "python3 -m venv $CUDA_VENV failed"
fi
find_cu() {
  "$CUDA_VENV/bin/python" - <<'PY' 2>/dev/null
import glob, os, sysconfig
for d in glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu13")):
    if os.path.isfile(os.path.join(d, "bin", "nvcc")):
        print(d)
PY
}
CU=$(find_cu || true)
if [ -z "$CU" ] || ! "$CUDA_VENV/bin/pip" show nvidia-cublas nvidia-curand nvidia-cuda-nvrtc >/dev/null 2>&1; then
  say "installing $CUDA_PIP_SPEC into $CUDA_VENV"
  "$CUDA_VENV/bin/pip" install --quiet "$CUDA_PIP_SPEC" ||
    die "pip install of the CUDA toolkit failed (needs PyPI access); remove $CUDA_VENV and retry"
  CU=$(find_cu || true)
fi
[ -n "$CU" ] || die "no nvidia/cu13/bin/nvcc in $CUDA_VENV after installing $CUDA_PIP_SPEC"
nvcc_release=$("$CU/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
[ "$nvcc_release" = 13.0 ] ||
  die "nvcc in $CU is release '$nvcc_release', need 13.0 (cudarc 0.19 accepts listed versions only; 13.0 PTX matches a CUDA 13.0 driver)"
say "toolkit: $CU (nvcc $nvcc_release)"

# ---------------------------------------------------------------------- 2. unversioned links
for lib in cudart cublas cublasLt curand nvrtc; do
  versioned=$(cd "$CU/lib" && ls "lib$lib.so."[0-9]* 2>/dev/null | grep -E "^lib$lib\.so\.[0-9]+$" | sort -V | tail -1 || true)
  [ -n "$versioned" ] || die "no $CU/lib/lib$lib.so.N: is the toolkit complete? ($CUDA_PIP_SPEC)"
  if [ "$(readlink "$CU/lib/lib$lib.so" 2>/dev/null)" != "$versioned" ]; then
    ln -sfn "$versioned" "$CU/lib/lib$lib.so"
    say "linked $CU/lib/lib$lib.so -> $versioned"
  fi
done

# -------------------------------------------------------------------------- 3. libcuda stub
CUDARC_DIR=$(cargo metadata --format-version 1 --features train/cuda,probe/cuda --manifest-path "$SRC/Cargo.toml" 2>/dev/null | python3 -c '
import json, os, sys
pkgs = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"]
print(os.path.dirname(pkgs[0]["manifest_path"]) if pkgs else "")') ||
  die "cargo metadata failed (run 'cargo fetch' with network access once)"
[ -n "$CUDARC_DIR" ] || die "cudarc is not in Cargo.lock's dependency graph: does candle-core still have a cuda feature?"
STUB_DIR=$CU/lib/stubs
if [ ! -f "$STUB_DIR/libcuda.so" ] || ! grep -q "from $(basename "$CUDARC_DIR");" "$STUB_DIR/libcuda_stub.c" 2>/dev/null; then
  say "building the libcuda stub from $(basename "$CUDARC_DIR")"
  "$ROOT/scripts/cuda-stub/make-libcuda-stub.sh" "$CUDARC_DIR" "$STUB_DIR" || die "libcuda stub failed"
fi

# ------------------------------------------------------------------- 4. CUDA train/probe build
packages=() features=()
for s in $CUDA_STAGES; do packages+=(-p "$s"); features+=("$s/cuda"); done
features=$(IFS=,; echo "${features[*]}")
say "cargo build --release ${packages[*]} --features $features (source $SRC, target $CUDA_TARGET_DIR, nice $NICE, CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
t0=$(date +%s)
PATH="$CU/bin:$PATH" CUDA_HOME="$CU" CARGO_TARGET_DIR="$CUDA_TARGET_DIR" \
  nice -n "$NICE" cargo build --release --manifest-path "$SRC/Cargo.toml" "${packages[@]}" --features "$features" ||
  die "the CUDA build failed (see above). Undefined cu* symbols: delete $STUB_DIR/libcuda.so and rerun"
say "CUDA build done in $(( $(date +%s) - t0 )) s"
for s in $CUDA_STAGES; do
  [ -x "$CUDA_TARGET_DIR/release/$s" ] || die "no $CUDA_TARGET_DIR/release/$s after the build"
done
TRAIN_CUDA=$CUDA_TARGET_DIR/release/train

# --------------------------------------------------------------------------- 5. CPU stages
if [ "${SKIP_CPU_STAGES:-0}" != 1 ]; then
  say "cargo build --profile $CPU_PROFILE --workspace --bins (target $CPU_TARGET_DIR, nice $NICE)"
  t0=$(date +%s)
  CARGO_TARGET_DIR="$CPU_TARGET_DIR" nice -n "$NICE" cargo build --profile "$CPU_PROFILE" --manifest-path "$SRC/Cargo.toml" --workspace --bins ||
    die "the $CPU_PROFILE build of the CPU stages failed (see above)"
  say "CPU stages done in $(( $(date +%s) - t0 )) s"
fi

# ------------------------------------------------------------------------------- 6. .gpu/
# Stripped and xz-compressed: the stripped CUDA train alone is over 60 MiB (32 MB of it the SASS
# of candle-kernels' quantized-matmul library, which it links whole; 10 MB of PTX). The GPU
# machine unpacks them (scripts/gpu-check.sh does; by hand: `xz -dk .gpu/*.xz`, or Python's lzma).
command -v xz >/dev/null || die "'xz' is not on PATH (apt-get install xz-utils)"
mkdir -p "$GPU_DIR"
STRIPPED=$CUDA_TARGET_DIR/stripped
mkdir -p "$STRIPPED"
pack() { # SRC NAME: strip and compress to $GPU_DIR/NAME.xz, only when SRC changed since the last time
  local src=$1 name=$2 dest=$GPU_DIR/$2.xz
  [ -x "$src" ] || die "missing binary $src"
  if [ ! -e "$dest" ] || [ "$src" -nt "$dest" ] || [ "$src" -ot "$dest" ]; then
    strip -o "$STRIPPED/$name" "$src" || die "strip $src failed"
    nice -n "$NICE" xz -9 -T2 -c "$STRIPPED/$name" > "$dest.tmp" && mv "$dest.tmp" "$dest" || die "xz $name failed"
    touch -r "$src" "$dest"   # the build's time: a rerun sees it unchanged
    say "packed $name: $(( $(stat -c %s "$STRIPPED/$name") / 1024 )) KiB stripped, $(( $(stat -c %s "$dest") / 1024 )) KiB as $dest"
  fi
  rm -f "$GPU_DIR/$name"   # an unpacked copy from an earlier layout would travel too
}
for s in $CUDA_STAGES; do pack "$CUDA_TARGET_DIR/release/$s" "$s"; done
if [ "${SKIP_CPU_STAGES:-0}" != 1 ]; then
  for s in $STAGES; do
    [[ " $CUDA_STAGES " == *" $s "* ]] || pack "$CPU_TARGET_DIR/$CPU_PROFILE_DIR/$s" "$s"
  done
fi
if [ "$SRC" = "$ROOT" ]; then
  { echo "built from the working tree at commit $(git rev-parse HEAD 2>/dev/null), changes:"
    git status --short -- crates Cargo.toml Cargo.lock 2>/dev/null; } > "$GPU_DIR/COMMIT"
else
  echo "built from $SRC ($(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo 'not a git checkout'))" > "$GPU_DIR/COMMIT"
fi

# ------------------------------------------------------------------------------- checks
[ -x "$STRIPPED/train" ] || strip -o "$STRIPPED/train" "$TRAIN_CUDA"
needed=$(readelf -d "$STRIPPED/train" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcurand.so.10; do
  grep -qx "$lib" <<<"$needed" || die "train does not link $lib (it needs: $(echo $needed))"
done
say "train needs: $(echo $needed)"
LD_LIBRARY_PATH="$CU/lib" ldd "$STRIPPED/train" | grep -E 'cuda|cublas|curand|nvrtc|not found' || true
size_kib=$(du -sk "$GPU_DIR" | cut -f1)
ls -l "$GPU_DIR"
say "$GPU_DIR: $(( size_kib / 1024 )) MiB ($size_kib KiB; limit $GPU_DIR_MAX_MIB MiB)"
[ "$size_kib" -le $(( GPU_DIR_MAX_MIB * 1024 )) ] || die "$GPU_DIR is larger than $GPU_DIR_MAX_MIB MiB"
say "done: carry .gpu to the GPU machine and run scripts/gpu-check.sh there (it unpacks the .xz files)"

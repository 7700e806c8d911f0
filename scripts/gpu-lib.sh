# Sourced by the scripts that run on the lent GPU machine (gpu-check.sh, gpu-bios.sh); that machine
# has no Rust toolchain, and the binaries travel xz-compressed in .gpu/ (scripts/build-cuda.sh).

# Log helpers of both scripts, which set START (epoch seconds), SUMMARY (a Markdown file) and
# SKIP (" part part ") first.
ts() { echo "$(date +%H:%M:%S) +$(( $(date +%s) - START ))s"; }
stage() { echo; echo "=== [$(ts)] $*"; }
note() { echo "$*" >> "$SUMMARY"; }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }

# cuda_library_path PYTHON: the folders holding CUDA 13's libcudart, libcublas, libcublasLt and
# libcurand (PyTorch's nvidia-* wheels, then /usr/local/cuda), joined by ':'.
cuda_library_path() {
  local py=$1 dirs d
  dirs=$(timeout 60 "$py" - <<'PY'
import glob, os
dirs = []
try:
    import nvidia
    for base in list(nvidia.__path__):
        dirs += glob.glob(os.path.join(base, "cu13", "lib")) + sorted(glob.glob(os.path.join(base, "*", "lib")))
except Exception as e:
    print(f"no nvidia pip packages: {e}", file=__import__("sys").stderr)
out = []
for d in dirs:
    if os.path.isdir(d) and d not in out:
        out.append(d)
print(":".join(out))
PY
  )
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64; do
    [ -d "$d" ] && dirs=${dirs:+$dirs:}$d
  done
  echo "$dirs"
}

# unpack_binaries FROM TO PYTHON: each FROM/*.xz decompressed into TO, executable (xz, else
# Python's lzma). Prints TO when FROM held .xz files, else FROM (binaries already unpacked).
unpack_binaries() {
  local from=$1 to=$2 py=$3 f bin
  if ! ls "$from"/*.xz >/dev/null 2>&1; then echo "$from"; return; fi
  mkdir -p "$to"
  for f in "$from"/*.xz; do
    bin=$to/$(basename "$f" .xz)
    if command -v xz >/dev/null; then xz -dc "$f" > "$bin"
    else "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "$bin"
    fi && chmod 755 "$bin" || echo "FAILED to unpack $f" >&2
  done
  echo "unpacked $(ls "$from"/*.xz | wc -l) binaries from $from into $to ($(du -sm "$to" | cut -f1) MiB)" >&2
  echo "$to"
}

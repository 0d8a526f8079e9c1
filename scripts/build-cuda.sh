#!/usr/bin/env bash
# Build `batchramp` with the `cuda` feature on a machine WITHOUT a GPU, a driver or a system
# CUDA toolkit, for an NVIDIA H100/H200 (compute capability 9.0) whose driver speaks CUDA 13.0
# (driver 580). Everything comes from PyPI wheels, unpacked into $WORK outside the repository,
# plus a generated link-time stub for libcuda.so. The default (CPU) build needs none of this.
#
# Usage (from anywhere):
#   scripts/build-cuda.sh            # full build -> $WORK/dist/batchramp-cuda{,.gz} (~680 MB download;
#                                    #   ~27 CPU-minutes; 35 min wall on 2 cores shared with other builds)
#   scripts/build-cuda.sh --check    # type-check + clippy `--features cuda` only: no download, no nvcc
#
# Environment:
#   WORK=DIR              wheels, toolkit, target dirs, results (default ~/.cache/batchramp-cuda-build);
#                         must be outside the repository (it grows to ~3.6 GB, ~5 GB with --check)
#   CARGO_TARGET_DIR=DIR  default $WORK/target (the shared ./target is left alone: the CUDA_* variables
#                         below would otherwise make cargo rebuild candle there on every switch)
#   CUDA_COMPUTE_CAP=NN   default 90 (sm_90a: H100/H200 only)
#   BUNDLE=1              also copy the CUDA run-time libraries to $WORK/dist/cuda-lib (~730 MB)
#   COPY_TO=PATH          also copy the binary there (e.g. ./batchramp-cuda for scripts/gpu-check.sh;
#                         a name ending in .gz gets the gzipped copy, ~16 MB instead of ~60 MB)
#   CARGO_LOCKED=0        build without --locked (default uses Cargo.lock as it is)
#   STRIP=0               keep debug line tables in the copied binary (~150 MB instead of ~60 MB)
#
# Why each step is there: docs/cuda.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/batchramp-cuda-build}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
case "$WORK/" in
  "$REPO"/*) echo "build-cuda.sh: WORK=$WORK is inside the repository; point it elsewhere" >&2; exit 2 ;;
esac
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
BUNDLE=${BUNDLE:-0}
LOCKED=(--locked)
if [[ ${CARGO_LOCKED:-1} == 0 ]]; then LOCKED=(); fi
MODE=build
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;;
  *) echo "build-cuda.sh: unknown argument '$1' (expected --check or nothing)" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------------
# --check: type-check the `cuda` feature without any CUDA download.
# `cargo check` still runs every build script, and two of them want CUDA:
#   - cudarc 0.19.10 (feature cuda-version-from-build-system, forced by candle-core 0.11.1) runs
#     `nvcc --version` unless CUDARC_CUDA_VERSION names the version;
#   - candle-kernels 0.11.1 (through cudaforge 0.1.6) ALWAYS runs nvcc: 11 .cu files to PTX that
#     are include_str!'d into the crate, and 15 more into libmoe.a. There is no switch to skip it.
# A stand-in `nvcc` that writes empty outputs satisfies both: nothing is linked in check mode,
# and empty PTX strings type-check the same as real ones. The result says nothing about whether
# the kernels compile; only the full build does.
# ---------------------------------------------------------------------------------------------
if [[ $MODE == check ]]; then
  FAKE=$WORK/fake-nvcc
  mkdir -p "$FAKE/bin" "$FAKE/include" "$FAKE/lib64"
  cat > "$FAKE/bin/nvcc" <<'EOF'
#!/usr/bin/env bash
# Stand-in nvcc for `cargo check --features cuda` (scripts/build-cuda.sh --check): answers the
# version queries and creates empty output files; it compiles nothing.
set -eu
out="" outdir="" mode="" src=()
while (( $# )); do
  case "$1" in
    --version) printf '%s\n' 'nvcc: NVIDIA (R) Cuda compiler driver' 'stand-in for cargo check' \
                 'Built for type-checking only' 'Cuda compilation tools, release 13.0, V13.0.88' \
                 'Build cuda_13.0.r13.0/compiler.0_0'; exit 0 ;;
    --list-gpu-code) echo sm_75 sm_80 sm_86 sm_89 sm_90 sm_90a sm_100 sm_120; exit 0 ;;
    --ptx) mode=ptx ;;
    --lib) mode=lib ;;
    -c) mode=obj ;;
    -o) out=$2; shift ;;
    --output-directory) outdir=$2; shift ;;
    -ccbin|-Xcompiler|--default-stream|-gencode|-arch) shift ;;
    *.cu|*.o) src+=("$1") ;;
  esac
  shift
done
if [[ $mode == ptx && -n $outdir ]]; then
  for s in "${src[@]}"; do b=${s##*/}; : > "$outdir/${b%.cu}.ptx"; done
elif [[ -n $out ]]; then
  : > "$out"
fi
EOF
  chmod +x "$FAKE/bin/nvcc"
  export PATH=$FAKE/bin:$PATH NVCC=$FAKE/bin/nvcc CUDARC_CUDA_VERSION=13000
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target-check}
  # The empty PTX files stay in this target dir's build outputs, and cudaforge's incremental
  # cache could keep them in a later real build here: mark the dir so the full build refuses it.
  mkdir -p "$CARGO_TARGET_DIR" && touch "$CARGO_TARGET_DIR/.stand-in-nvcc-used"
  start=$(date +%s)
  # clippy with the flags .ci/run uses, so that in CI (CARGO_TARGET_DIR=target) it reuses the
  # non-CUDA crates' results and lints the cfg(feature = "cuda") code too; plain check otherwise.
  if cargo clippy --version >/dev/null 2>&1; then
    (cd "$REPO" && nice -n 19 cargo clippy "${LOCKED[@]}" --release --all-targets --features cuda -- -D warnings)
  else
    (cd "$REPO" && nice -n 19 cargo check "${LOCKED[@]}" --release --all-targets --features cuda)
  fi
  echo "build-cuda.sh --check: the cuda feature type-checks (no kernels compiled); $(( $(date +%s) - start )) s"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 1. CUDA 13.0 pieces from PyPI (~677 MB download, ~1.2 GB unpacked), pinned: driver 580 speaks
#    CUDA 13.0 = PTX ISA 9.0, and candle's kernels are PTX the driver JIT-compiles at load time;
#    nvcc 13.1+ would emit ISA 9.1+ (CUDA_ERROR_UNSUPPORTED_PTX_VERSION there) and would also
#    switch cudarc to newer driver bindings.
# ---------------------------------------------------------------------------------------------
WHEEL_DIR=$WORK/wheels
CUDA_DIR=$WORK/cuda
CUDA_TOP=$CUDA_DIR/nvidia/cu13          # CUDA 13 wheels all unpack into nvidia/cu13/{bin,include,lib,nvvm}
DIST=$WORK/dist
WHEELS=(
  nvidia-cuda-nvcc==13.0.88      # 37 MB  nvcc, ptxas, fatbinary, nvlink, cudafe++
  nvidia-cuda-crt==13.0.88       # 0.1 MB include/crt/* (needed by nvcc)
  nvidia-nvvm==13.0.88           # 62 MB  cicc, libdevice
  nvidia-cuda-cccl==13.0.85      # 3 MB   cub/thrust/cuda::std (candle's reduce.cu, moe/*.cu)
  nvidia-cuda-runtime==13.0.96   # 2 MB   cuda_runtime.h, cuda.h, libcudart.so.13
  nvidia-cuda-nvrtc==13.0.88     # 90 MB  libnvrtc.so.13 (cudarc links it; --as-needed drops it)
  nvidia-curand==10.4.0.35       # 60 MB  libcurand.so.10
  nvidia-cublas==13.1.0.3        # 423 MB libcublas.so.13 + libcublasLt.so.13
)
mkdir -p "$WHEEL_DIR" "$CUDA_DIR" "$DIST"
if [[ ! -f $CUDA_DIR/.unpacked ]]; then
  PY=${PYTHON:-python3}
  nice "$PY" -m pip download -q --no-deps -d "$WHEEL_DIR" --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 "${WHEELS[@]}"
  for w in "$WHEEL_DIR"/*.whl; do
    if command -v unzip >/dev/null; then unzip -q -o "$w" 'nvidia/*' -d "$CUDA_DIR"
    else "$PY" -m zipfile -e "$w" "$CUDA_DIR"; fi
  done
  chmod +x "$CUDA_TOP"/bin/* "$CUDA_TOP"/nvvm/bin/*   # zip extraction may drop exec bits
  # Wheels hold no symlinks: add the unversioned names the linker's -lcublas etc. look for.
  for l in cudart cublas cublasLt nvrtc; do ln -sf "lib$l.so.13" "$CUDA_TOP/lib/lib$l.so"; done
  ln -sf libcurand.so.10 "$CUDA_TOP/lib/libcurand.so"
  touch "$CUDA_DIR/.unpacked"
fi

# ---------------------------------------------------------------------------------------------
# 2. What the build scripts read:
#    - cudarc build.rs: `nvcc --version` from PATH picks the bindings (cuda-13000); -L for
#      $CUDA_HOME/{lib,lib/stubs,lib64,...}; -lcuda -lnvrtc -lcurand -lcublas -lcublasLt.
#    - candle-kernels build.rs (cudaforge): nvcc from $NVCC or PATH; CUDA_COMPUTE_CAP, as there
#      is no nvidia-smi to ask (90 -> sm_90a); emits -lcudart.
# ---------------------------------------------------------------------------------------------
export PATH=$CUDA_TOP/bin:$PATH
export CUDA_HOME=$CUDA_TOP CUDA_PATH=$CUDA_TOP CUDA_ROOT=$CUDA_TOP CUDA_TOOLKIT_ROOT_DIR=$CUDA_TOP
unset NVCC CUDARC_CUDA_VERSION
[[ "$(nvcc --version)" == *"release 13.0"* ]] || { echo "build-cuda.sh: expected nvcc 13.0 in $CUDA_TOP/bin" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
if [[ -e $CARGO_TARGET_DIR/.stand-in-nvcc-used ]]; then
  echo "build-cuda.sh: $CARGO_TARGET_DIR was used by --check (empty stand-in PTX); use another CARGO_TARGET_DIR" >&2
  exit 2
fi
(cd "$REPO" && cargo fetch "${LOCKED[@]}")

# ---------------------------------------------------------------------------------------------
# 3. Link-time stand-in for the driver library. libcuda.so comes with the driver, never in a
#    wheel, and candle-core forces cudarc's dynamic-linking, so -lcuda must resolve when linking.
#    One function per cu* symbol cudarc declares, each returning CUDA_ERROR_STUB_LIBRARY (34);
#    SONAME libcuda.so.1 so the binary asks for the real driver's file at run time. Never shipped.
# ---------------------------------------------------------------------------------------------
CUDARC_SRC=$(cd "$REPO" && cargo metadata "${LOCKED[@]}" --format-version 1 --features cuda | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "cudarc"))')
mkdir -p "$CUDA_TOP/lib/stubs"
grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+\(' "$CUDARC_SRC/src/driver/sys/mod.rs" \
  | sed -E 's/pub unsafe fn (cu[A-Za-z0-9_]+)\(/\1/' | sort -u \
  | awk 'BEGIN{print "/* link-time stand-in for libcuda.so.1; never run */"} {print "int " $1 "(void){return 34;}"}' \
  > "$WORK/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CUDA_TOP/lib/stubs/libcuda.so" "$WORK/libcuda_stub.c"

# ---------------------------------------------------------------------------------------------
# 4. Build (~11 min from scratch on 2 busy cores, ~7 of them nvcc on candle-kernels' MoE/GGUF
#    kernels, which batchramp never calls but cannot opt out of).
# ---------------------------------------------------------------------------------------------
start=$(date +%s)
(cd "$REPO" && nice -n 19 cargo build "${LOCKED[@]}" --release --features cuda --bin batchramp)
echo "build-cuda.sh: cargo build --release --features cuda took $(( $(date +%s) - start )) s"

# ---------------------------------------------------------------------------------------------
# 5. Inspect and hand over. Needs at run time, besides glibc >= 2.35 and libstdc++:
#    libcuda.so.1 (driver), libcudart.so.13, libcublas.so.13 (+ libcublasLt.so.13), libcurand.so.10.
# ---------------------------------------------------------------------------------------------
BIN=$CARGO_TARGET_DIR/release/batchramp
# Debug line tables make it ~150 MB; without them ~60 MB, and ~16 MB gzipped (the PTX is text).
# scripts/gpu-check.sh unpacks batchramp-cuda.gz itself, so the .gz is enough to carry over.
if [[ ${STRIP:-1} == 1 ]]; then strip --strip-debug -o "$DIST/batchramp-cuda" "$BIN"
else cp "$BIN" "$DIST/batchramp-cuda"; fi
gzip -c "$DIST/batchramp-cuda" > "$DIST/batchramp-cuda.gz"
ls -l "$DIST/batchramp-cuda" "$DIST/batchramp-cuda.gz"
sha256sum "$DIST/batchramp-cuda"
readelf -d "$BIN" | grep -E 'NEEDED|RUNPATH|RPATH' || true
echo "embedded PTX versions (must be <= 9.0 for driver 580):"
strings -n 8 "$BIN" | grep -E '^\.version [0-9.]+$' | sort | uniq -c || true
# candle-kernels embeds 11 PTX modules; fewer means empty PTX got in, more than ISA 9.0 means the
# driver on the target would refuse them.
ptx_ok=$(strings -n 8 "$BIN" | grep -cE '^\.version 9\.0$' || true)
ptx_new=$(strings -n 8 "$BIN" | grep -E '^\.version [0-9.]+$' | grep -vcE '^\.version ([0-8]\.[0-9]+|9\.0)$' || true)
if (( ptx_ok < 11 || ptx_new > 0 )); then
  echo "build-cuda.sh: expected 11 PTX modules of ISA 9.0, found $ptx_ok (and $ptx_new newer)" >&2; exit 1
fi
# Load test: every library and symbol must resolve here (with the stub as libcuda.so.1). Asking
# for the GPU must then fail with a one-line error, because the stub answers "no driver".
mkdir -p "$WORK/runstub"
ln -sf "$CUDA_TOP/lib/stubs/libcuda.so" "$WORK/runstub/libcuda.so.1"
export LD_LIBRARY_PATH=$CUDA_TOP/lib:$WORK/runstub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ldd "$BIN" | grep 'not found'; then echo "build-cuda.sh: unresolved libraries (above)" >&2; exit 1; fi
"$BIN" --version
set +e
# RUST_BACKTRACE would make candle append a backtrace to the error; users normally have it unset.
env -u RUST_BACKTRACE "$BIN" bench --device cuda --net resnet8 --batch 2 --steps 1 --warmup 0
rc=$?
set -e
echo "load test: 'bench --device cuda' without a GPU exited $rc (expected 1 or 2 with a one-line error above)"
if (( rc == 0 || rc > 2 )); then echo "build-cuda.sh: unexpected exit code $rc" >&2; exit 1; fi

if [[ $BUNDLE == 1 ]]; then
  mkdir -p "$DIST/cuda-lib"
  cp -L "$CUDA_TOP"/lib/{libcudart.so.13,libcublas.so.13,libcublasLt.so.13,libcurand.so.10} "$DIST/cuda-lib/"
  du -sh "$DIST/cuda-lib"
fi
if [[ -n ${COPY_TO:-} ]]; then
  case "$COPY_TO" in *.gz) cp "$DIST/batchramp-cuda.gz" "$COPY_TO" ;; *) cp "$DIST/batchramp-cuda" "$COPY_TO" ;; esac
  echo "copied to $COPY_TO"
fi
echo "build-cuda.sh: done: $DIST/batchramp-cuda"

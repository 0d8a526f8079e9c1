#!/usr/bin/env bash
# One-command GPU check for batchramp on an NVIDIA H100/H200 machine that has the driver, CUDA 13
# and PyTorch but no Rust and no network. Build the binary elsewhere with scripts/build-cuda.sh
# and copy it here (default ./batchramp-cuda, or ./batchramp-cuda.gz, in the repository root).
# Run from anywhere:
#
#   scripts/gpu-check.sh
#
# It measures, for the seed ResNet-18 config's three stage batch sizes (128, 640, 3,200):
#   1. `batchramp bench --device cuda` images/s, each stage its own process;
#   2. the same step in PyTorch eager (scripts/gpu_peer.py), each stage its own process;
#   3. peak device memory of every such process, from nvidia-smi sampled every ~0.1 s;
#   4. a short `batchramp train --device cuda --no-tui` on synthetic data through all three
#      stages, comparing the `resources` events' device memory with nvidia-smi's memory.used.
# Then prints a compact table (also in $RESULTS/summary.txt). Every part is guarded: a failure
# or time-out in one stage is reported and the rest still run. Total time is capped (TOTAL_S).
#
# Environment (all optional):
#   BATCHRAMP_BIN=PATH    the CUDA build (default <repo>/batchramp-cuda; PATH.gz is unpacked if
#                         PATH is missing)
#   BATCHRAMP_CUDA_LIB=D  folder with libcudart.so.13/libcublas.so.13/libcurand.so.10 (default: found)
#   PYTHON=python3        the Python that has PyTorch
#   BATCHES="128 640 3200"  STEPS=5  WARMUP=2   timed and untimed steps per stage
#   STAGE_TIMEOUT=60      seconds per process;  TRAIN_S=75 seconds for the train run
#   TOTAL_S=450           hard budget for the whole script (under 8 minutes)
#   GPU=0                 nvidia-smi index of the GPU that CUDA calls device 0
#   RESULTS=DIR           where logs go (default /tmp/batchramp-gpu-check-<time>)
#   GPU_CHECK_OUT=DIR     also copy summary.txt and results.tar.gz there
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BATCHRAMP_BIN:-$REPO/batchramp-cuda}
PYTHON=${PYTHON:-python3}
read -r -a BATCH_LIST <<< "${BATCHES:-128 640 3200}"
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
STAGE_TIMEOUT=${STAGE_TIMEOUT:-60}
TRAIN_S=${TRAIN_S:-75}
TOTAL_S=${TOTAL_S:-450}
GPU=${GPU:-0}
RESULTS=${RESULTS:-/tmp/batchramp-gpu-check-$(date +%Y%m%d-%H%M%S)}
START=$(date +%s)
DEADLINE=$(( START + TOTAL_S ))
mkdir -p "$RESULTS" || { echo "gpu-check: cannot create $RESULTS" >&2; exit 1; }
STATUS=$RESULTS/status.tsv
: > "$STATUS"
SMI_PID=""

log() { printf '[gpu-check %3ds] %s\n' "$(( $(date +%s) - START ))" "$*"; }
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$STATUS"; }   # name, exit code or word, seconds

# Seconds the next step may take: its own cap, or what is left of the total, whichever is less.
budget() {
  local left=$(( DEADLINE - $(date +%s) ))
  if (( left < $1 )); then echo "$left"; else echo "$1"; fi
}

# nvidia-smi sampler: "epoch_seconds, used MiB, total MiB[, reserved MiB]" every ~0.1 s.
SMI_FIELDS=memory.used,memory.total,memory.reserved
nvidia-smi -i "$GPU" --query-gpu=$SMI_FIELDS --format=csv,noheader,nounits >/dev/null 2>&1 \
  || SMI_FIELDS=memory.used,memory.total
smi_start() {
  (
    while :; do
      t=$(date +%s.%N)
      v=$(nvidia-smi -i "$GPU" --query-gpu=$SMI_FIELDS --format=csv,noheader,nounits 2>/dev/null) \
        && echo "$t, $v"
      sleep 0.1
    done
  ) > "$1" 2>/dev/null &
  SMI_PID=$!
}
smi_stop() {
  if [[ -n $SMI_PID ]]; then kill "$SMI_PID" 2>/dev/null; wait "$SMI_PID" 2>/dev/null; SMI_PID=""; fi
}
trap smi_stop EXIT

# Runs one guarded step: NAME LIMIT CMD... with stdout/stderr in $RESULTS/NAME.{out,err} and
# nvidia-smi samples in $RESULTS/NAME.smi. Never aborts the script.
step() {
  local name=$1 cap=$2; shift 2
  local lim; lim=$(budget "$cap")
  if (( lim < 10 )); then log "$name: skipped, total time budget spent"; note "$name" skipped 0; return; fi
  log "$name: $* (limit ${lim}s)"
  local t0; t0=$(date +%s)
  smi_start "$RESULTS/$name.smi"
  timeout -k 5 "$lim" "$@" > "$RESULTS/$name.out" 2> "$RESULTS/$name.err"
  local rc=$?
  smi_stop
  local dt=$(( $(date +%s) - t0 ))
  note "$name" "$rc" "$dt"
  if (( rc != 0 )); then
    log "$name: exit $rc after ${dt}s$( ((rc == 124 || rc == 137)) && echo ' (time-out)'): $(tail -n 2 "$RESULTS/$name.err" | tr '\n' ' ')"
  else
    log "$name: ok (${dt}s)"
  fi
}

log "results in $RESULTS"
{
  date -u +'%Y-%m-%dT%H:%M:%SZ'
  nvidia-smi -L
  nvidia-smi -i "$GPU" --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  uname -a
} > "$RESULTS/machine.txt" 2>&1
cat "$RESULTS/machine.txt"

# --- 0. PyTorch and the CUDA libraries the binary needs ----------------------------------------
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  log "WARNING: $PYTHON cannot import torch; the PyTorch column will be empty (set PYTHON=...)"
fi
HAVE_BIN=1
if [[ ! -e $BIN && -f $BIN.gz ]]; then   # build-cuda.sh's gzipped copy (~16 MB instead of ~60 MB)
  gunzip -c "$BIN.gz" > "$RESULTS/batchramp-cuda" && chmod +x "$RESULTS/batchramp-cuda" \
    && log "unpacked $BIN.gz" && BIN=$RESULTS/batchramp-cuda
fi
if [[ ! -x $BIN ]]; then
  log "ERROR: no executable at BATCHRAMP_BIN=$BIN (build it with scripts/build-cuda.sh and copy it here)"
  HAVE_BIN=0
fi
# Candidate folders for libcudart.so.13, libcublas(Lt).so.13, libcurand.so.10, in order:
# the user's, PyTorch's cu13 wheels (nvidia/cu13/lib), a system CUDA toolkit.
CANDIDATES=()
[[ -n ${BATCHRAMP_CUDA_LIB:-} ]] && CANDIDATES+=("$BATCHRAMP_CUDA_LIB")
while IFS= read -r d; do [[ -n $d ]] && CANDIDATES+=("$d"); done < <("$PYTHON" - <<'EOF' 2>/dev/null
import os
try:
    import nvidia  # namespace package of the nvidia-* wheels PyTorch depends on
    for p in list(nvidia.__path__):
        print(os.path.join(p, "cu13", "lib"))
except Exception:
    pass
EOF
)
CANDIDATES+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13.0/lib64)
# Last, where driver containers mount libcuda.so.1 when the loader's cache does not list it.
BASE_LD=${LD_LIBRARY_PATH:-}
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [[ -d $d && ":$BASE_LD:" != *":$d:"* ]] && BASE_LD=${BASE_LD:+$BASE_LD:}$d
done
LIBDIR=""
if (( HAVE_BIN )); then
  for d in "${CANDIDATES[@]}"; do
    [[ -d $d ]] || continue
    if ! LD_LIBRARY_PATH=$d${BASE_LD:+:$BASE_LD} ldd "$BIN" 2>&1 | grep -q 'not found'; then LIBDIR=$d; break; fi
  done
  if [[ -z $LIBDIR ]]; then
    log "ERROR: no folder satisfies the binary's libraries; tried: ${CANDIDATES[*]}"
    ldd "$BIN" | grep 'not found' | sed 's/^/    /'
    HAVE_BIN=0
  else
    export LD_LIBRARY_PATH=$LIBDIR${BASE_LD:+:$BASE_LD}
    log "CUDA libraries from $LIBDIR"
    ldd "$BIN" | grep -E 'libcuda|libcudart|libcublas|libcurand' | sed 's/^/    /'
    note libraries "$LIBDIR" 0
  fi
fi

# NVML: nvml-wrapper 0.10 opens "libnvidia-ml.so" (unversioned); a driver-only install may ship
# just libnvidia-ml.so.1. Record which names load, and if only .so.1 does, put a link named
# libnvidia-ml.so on the library path so the other figures can still be checked.
NVML=$("$PYTHON" - <<'EOF' 2>/dev/null
import ctypes
res = {}
for name in ("libnvidia-ml.so", "libnvidia-ml.so.1"):
    try:
        ctypes.CDLL(name)
        res[name] = True
    except OSError:
        res[name] = False
path = ""
with open("/proc/self/maps") as f:
    for line in f:
        if "libnvidia-ml" in line:
            path = line.split()[-1]
            break
print(int(res["libnvidia-ml.so"]), int(res["libnvidia-ml.so.1"]), path)
EOF
)
read -r NVML_PLAIN NVML_SO1 NVML_PATH <<< "${NVML:-0 0 }"
if [[ ${NVML_PLAIN:-0} == 1 ]]; then
  note nvml "libnvidia-ml.so loads" 0
elif [[ ${NVML_SO1:-0} == 1 && -n ${NVML_PATH:-} ]]; then
  mkdir -p "$RESULTS/nvml-shim"
  ln -sf "$NVML_PATH" "$RESULTS/nvml-shim/libnvidia-ml.so"
  export LD_LIBRARY_PATH=$RESULTS/nvml-shim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  log "WARNING: only libnvidia-ml.so.1 exists ($NVML_PATH); linked it as libnvidia-ml.so for this check"
  note nvml "only libnvidia-ml.so.1 (shim used)" 0
else
  log "WARNING: NVML not loadable; utilisation/temperature/power will read n/a"
  note nvml "not loadable" 0
fi

# Idle baseline for the memory figures.
smi_start "$RESULTS/idle.smi"; sleep 1.5; smi_stop

# --- 1-3. Throughput and peak memory per stage, ours then PyTorch's ----------------------------
for B in "${BATCH_LIST[@]}"; do
  if (( HAVE_BIN )); then
    step "ours_$B" "$STAGE_TIMEOUT" "$BIN" bench --device cuda --net resnet18 --batch "$B" \
      --steps "$STEPS" --warmup "$WARMUP" --set model.ghost_batch=128 \
      --set hardware.max_micro_batch="$B" --json
  else
    note "ours_$B" "no-binary" 0
  fi
  step "torch_$B" "$STAGE_TIMEOUT" env PYTHONUNBUFFERED=1 "$PYTHON" "$REPO/scripts/gpu_peer.py" \
    --device cuda --net resnet18 --batch "$B" --steps "$STEPS" --warmup "$WARMUP" --json
done

# --- 4. Device memory as batchramp reports it, against nvidia-smi -----------------------------
# The seed config through all three stages in three short epochs; the micro-batch cap is lifted
# to 3,200 so the last stage runs as one micro-batch (the GPU setting), which makes the
# memory figure large enough for a 5% comparison to mean something.
if (( HAVE_BIN )); then
  (
    # Note when the log appears: the events' `t` counts from about then.
    for _ in $(seq 1 600); do
      f=$(compgen -G "$RESULTS/runs/*/events.jsonl" | head -n 1)
      if [[ -n $f ]]; then date +%s.%N > "$RESULTS/train_t0"; exit 0; fi
      sleep 0.1
    done
  ) &
  WATCH_PID=$!
  step train "$TRAIN_S" "$BIN" train --config "$REPO/configs/seed-resnet18-increase-batch.toml" \
    --data synthetic --device cuda --no-tui --out "$RESULTS/runs" \
    --set schedule.epochs=3 --set 'schedule.milestones=[1,2]' \
    --set data.synthetic_train=12800 --set data.synthetic_test=1000 \
    --set hardware.max_micro_batch=3200
  kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null
else
  note train no-binary 0
fi

# --- Summary ------------------------------------------------------------------------------------
log "summary"
"$PYTHON" "$REPO/scripts/gpu_summary.py" "$RESULTS" | tee "$RESULTS/summary.txt"
tar -C "$(dirname "$RESULTS")" -czf "$RESULTS.tar.gz" --exclude='*.safetensors' --exclude=batchramp-cuda "$(basename "$RESULTS")" 2>/dev/null
if [[ -n ${GPU_CHECK_OUT:-} ]]; then
  mkdir -p "$GPU_CHECK_OUT" && cp "$RESULTS/summary.txt" "$GPU_CHECK_OUT/" \
    && cp "$RESULTS.tar.gz" "$GPU_CHECK_OUT/results.tar.gz"
fi
log "done in $(( $(date +%s) - START ))s; logs: $RESULTS (and $RESULTS.tar.gz)"

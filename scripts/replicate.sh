#!/usr/bin/env bash
# The replication study of docs/replication.md: every arm (configs/paper-<arm>.toml) for each seed
# on CIFAR-10, then the report: per-arm table (mean ± half-range over seeds), per-epoch table,
# figures, and a small copy of every run (config, summary, epoch-level events) under
# docs/replication/runs/.
#
#   JOBS=2 scripts/replicate.sh --set hardware.threads=1   # the full study, two runs at a time
#   scripts/replicate.sh report                           # only the tables, copies and figures
#   scripts/replicate.sh run                              # only the runs
#
# Extra arguments go to every `batchramp train`. Environment:
#   DATA   the CIFAR-10 archive or directory (default ../shared/data/cifar-10-binary.tar.gz)
#   OUT    where the runs go (default runs/replication)
#   BIN    the binary (default target/release/batchramp, built when missing)
#   JOBS   runs at a time (default 1); each takes one claim, so any number of invocations can
#          share OUT without starting a run twice
#   RUNS   the runs as ARM:SEED, in order (default: ARMS × SEEDS, then OPTIM_ARMS at seed 0)
#   QUEUE  a file of ARM:SEED [BINARY] lines, read again before every run (so a running study
#          can be reordered or extended); replaces RUNS for the runs, not for the report
#   ARMS   default "decay-lr increase-batch hybrid scaled-lr adaptive adaptive-plateau"
#   SEEDS  default "0 1"
#   OPTIM_ARMS  default "adam-decay-lr adam-increase-batch nesterov-decay-lr nesterov-increase-batch"
#   SCALE  full (default) | reduced (32,000 images, 10 epochs, milestones 3/6/8, cap 3,200:
#          the scale of the first study, kept for comparison)
# A run whose summary exists (in OUT, or committed under docs/replication/runs/) is skipped; a
# run that was interrupted resumes from its last checkpoint, so rerunning the script continues
# the study.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/cifar-10-binary.tar.gz}
OUT=${OUT:-runs/replication}
BIN=${BIN:-target/release/batchramp}
JOBS=${JOBS:-1}
ARMS=${ARMS:-"decay-lr increase-batch hybrid scaled-lr adaptive adaptive-plateau"}
SEEDS=${SEEDS:-"0 1"}
OPTIM_ARMS=${OPTIM_ARMS:-"adam-decay-lr adam-increase-batch nesterov-decay-lr nesterov-increase-batch"}
SCALE=${SCALE:-full}
mode=all
case ${1:-} in
  run | report) mode=$1; shift ;;
esac
if [[ -z ${RUNS:-} ]]; then
  RUNS=""
  for arm in $ARMS; do for seed in $SEEDS; do RUNS+=" $arm:$seed"; done; done
  for arm in $OPTIM_ARMS; do RUNS+=" $arm:0"; done
fi
[[ -x $BIN ]] || cargo build --release
mkdir -p "$OUT/.claims"

scale=()
case $SCALE in
  full) ;;
  # N/10 = 3,200 keeps the paper's batch sequence 128 → 640 → 3,200; milestones are the
  # paper's 60/120/160 of 200 epochs scaled to 10.
  reduced) scale=(--set data.train_subset=32000 --set schedule.epochs=10
    --set 'schedule.milestones=[3,6,8]' --set schedule.max_batch=3200) ;;
  *) echo "SCALE must be full or reduced, not $SCALE" >&2; exit 2 ;;
esac

# Takes the run's claim: a directory made atomically, holding the owner's pid. A claim whose
# owner is gone (an interrupted study) is taken over.
claim() {
  local dir="$OUT/.claims/$1"
  if mkdir "$dir" 2>/dev/null; then
    echo "$WORKER_PID" > "$dir/pid"
    return 0
  fi
  local owner
  owner=$(cat "$dir/pid" 2>/dev/null || true)
  if [[ -n $owner ]] && kill -0 "$owner" 2>/dev/null; then
    return 1
  fi
  echo "$WORKER_PID" > "$dir/pid"
}

# The next unclaimed, unfinished run: "SPEC BINARY".
next_run() {
  local spec bin
  while read -r spec bin; do
    [[ -z $spec || $spec == \#* ]] && continue
    local name="paper-${spec%%:*}-s${spec##*:}"
    compgen -G "$OUT/*-$name/summary.json" >/dev/null && continue
    # A run already in the record (committed from an earlier machine) is not run again.
    [[ $SCALE == full && -e docs/replication/runs/$name/summary.json ]] && continue
    # A run that failed is not retried by this study; delete the marker to retry it.
    [[ -e $OUT/.claims/$name.failed ]] && continue
    claim "$name" || continue
    echo "$spec ${bin:-$BIN}"
    return 0
  done < <(if [[ -n ${QUEUE:-} ]]; then cat "$QUEUE"; else printf '%s\n' $RUNS; fi)
  return 1
}

worker() {
  local spec arm seed name dir bin status
  WORKER_PID=$BASHPID
  while read -r spec bin < <(next_run); do
    arm=${spec%%:*}
    seed=${spec##*:}
    name="paper-$arm-s$seed"
    # The newest directory of this run, if an earlier attempt was interrupted.
    dir=$(compgen -G "$OUT/*-$name" | sort | tail -n 1 || true)
    if [[ -n $dir ]] && compgen -G "$dir/checkpoints/*.safetensors" >/dev/null; then
      echo "== $name: resuming $dir"
      "$bin" train --resume "$dir" --no-tui "$@" && status=0 || status=$?
    else
      echo "== $name"
      "$bin" train --config "configs/paper-$arm.toml" --data "$DATA" --no-tui --out "$OUT" \
        --set "seed=$seed" --set "name=$name" "${scale[@]}" "$@" && status=0 || status=$?
    fi
    if ((status != 0)); then
      echo "== $name failed (exit $status)"
      touch "$OUT/.claims/$name.failed"
    fi
    rm -rf "$OUT/.claims/$name"
  done
}

if [[ $mode != report ]]; then
  for ((j = 0; j < JOBS; j++)); do worker "$@" & done
  wait
fi
[[ $mode == run ]] && exit 0
exec python3 scripts/replication_report.py "$OUT" "$BIN" $RUNS

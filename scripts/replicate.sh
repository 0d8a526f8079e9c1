#!/usr/bin/env bash
# The replication study of docs/replication.md: every configs/paper-*.toml arm for each seed on
# CIFAR-10, then a per-arm table (mean ± half-range over seeds), the figures, and a small copy of
# every run (config, summary, epoch-level events) under docs/replication/runs/.
#
#   scripts/replicate.sh                                  # the full study (20 epochs, all data)
#   scripts/replicate.sh --set data.train_subset=10000    # extra overrides go to every run
#   SCALE=reduced scripts/replicate.sh                    # the scale docs/replication.md reports
#
# Environment: DATA (default ../shared/data/cifar-10-binary.tar.gz), SEEDS (default "0 1"),
# OUT (default runs/replication), ARMS (default: all five), BIN (default target/release/batchramp),
# SCALE (full | reduced: 32,000 training images, 10 epochs, milestones 3/6/8, cap 3,200).
# Seeds can run in parallel: `SEEDS=0 scripts/replicate.sh --set hardware.threads=1 &` and the
# same with SEEDS=1; each run is skipped once its summary exists, so rerunning resumes the study.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/cifar-10-binary.tar.gz}
SEEDS=${SEEDS:-"0 1"}
OUT=${OUT:-runs/replication}
ARMS=${ARMS:-"decay-lr increase-batch hybrid scaled-lr adaptive"}
BIN=${BIN:-target/release/batchramp}
SCALE=${SCALE:-full}
[[ -x $BIN ]] || cargo build --release
mkdir -p "$OUT" docs/figures docs/replication/runs

scale=()
case $SCALE in
  full) ;;
  # N/10 = 3,200 keeps the paper's batch sequence 128 → 640 → 3,200; milestones are the
  # paper's 60/120/160 of 200 epochs scaled to 10.
  reduced) scale=(--set data.train_subset=32000 --set schedule.epochs=10
    --set 'schedule.milestones=[3,6,8]' --set schedule.max_batch=3200) ;;
  *) echo "SCALE must be full or reduced, not $SCALE" >&2; exit 2 ;;
esac

for arm in $ARMS; do
  for seed in $SEEDS; do
    name="paper-$arm-s$seed"
    if compgen -G "$OUT/*-$name/summary.json" >/dev/null; then
      echo "== $name: done already"
      continue
    fi
    echo "== $name"
    "$BIN" train --config "configs/paper-$arm.toml" --data "$DATA" --no-tui --out "$OUT" \
      --set "seed=$seed" --set "name=$name" "${scale[@]}" "$@"
  done
done

# One row per arm over its seeds, and a small copy of each run for the record.
python3 - "$OUT" "$ARMS" <<'PY'
import glob, json, os, statistics, sys
out, arms_wanted = sys.argv[1], sys.argv[2].split()
arms = {}
for path in sorted(glob.glob(os.path.join(out, "*", "summary.json"))):
    s = json.load(open(path))
    arm = s["name"].rsplit("-s", 1)[0]
    arms.setdefault(arm, []).append(s)
    run = os.path.dirname(path)
    keep = os.path.join("docs", "replication", "runs", s["name"])
    os.makedirs(keep, exist_ok=True)
    for f in ("summary.json", "config.toml"):
        with open(os.path.join(run, f)) as src, open(os.path.join(keep, f), "w") as dst:
            dst.write(src.read())
    # Header, stages, epochs, checkpoints, end, and every 10th noise-scale sample: enough for
    # `batchramp plot` of every epoch-level metric and of B_simple; steps and resources dropped.
    kept_noise = 0
    with open(os.path.join(run, "events.jsonl")) as src, open(os.path.join(keep, "events.jsonl"), "w") as dst:
        for line in src:
            kind = json.loads(line).get("kind")
            if kind in ("step", "resources"):
                continue
            if kind == "noise_scale":
                kept_noise += 1
                if kept_noise % 10:
                    continue
            dst.write(line)
def cell(values, scale=1.0, digits=2):
    v = [x * scale for x in values]
    m = statistics.mean(v)
    half = (max(v) - min(v)) / 2
    return f"{m:.{digits}f} ± {half:.{digits}f}"
print("| arm | seeds | final test acc % | best test acc % | final train loss | updates | ÷ decay-LR updates | wall (min) |")
print("|---|---|---|---|---|---|---|---|")
base = arms.get("paper-decay-lr")
base_updates = statistics.mean(r["updates"] for r in base) if base else None
for arm in [f"paper-{a}" for a in arms_wanted if f"paper-{a}" in arms]:
    runs = arms[arm]
    updates = statistics.mean(r["updates"] for r in runs)
    ratio = f"{base_updates / updates:.2f}×" if base_updates else "–"
    print(f"| {arm.removeprefix('paper-')} | {len(runs)} | {cell([r['final_test_acc'] for r in runs], 100)} | "
          f"{cell([r['best_test_acc'] for r in runs], 100)} | {cell([r['final_train_loss'] for r in runs], 1, 3)} | "
          f"{updates:.0f} | {ratio} | {statistics.mean([r['wall'] for r in runs]) / 60:.1f} |")
PY

first_seed=${SEEDS%% *}
runs=()
for arm in $ARMS; do runs+=("$OUT"/*-"paper-$arm-s$first_seed"); done
"$BIN" plot "${runs[@]}" --out docs/figures/replication-figure2.png --title "CIFAR-10, ResNet-8, seed $first_seed"
"$BIN" plot "${runs[@]}" --out docs/figures/replication-figure2.svg --title "CIFAR-10, ResNet-8, seed $first_seed"
if [[ " $ARMS " == *" adaptive "* ]]; then
  noise_runs=()
  for arm in decay-lr increase-batch adaptive; do
    [[ " $ARMS " == *" $arm "* ]] && noise_runs+=("$OUT"/*-"paper-$arm-s$first_seed")
  done
  "$BIN" plot "${noise_runs[@]}" --metric b_simple --x epoch --out docs/figures/replication-noise-scale.png \
    --title "Measured noise scale B_simple, seed $first_seed"
  "$BIN" plot "${noise_runs[@]}" --metric batch --x epoch --out docs/figures/replication-batch.png \
    --title "Batch size, seed $first_seed"
fi

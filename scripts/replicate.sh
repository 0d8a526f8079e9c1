#!/usr/bin/env bash
# The replication study of docs/replication.md: every configs/paper-*.toml arm for each seed on
# CIFAR-10, then a per-arm table (mean ± half-range over seeds) and Figure 2 plots.
#
#   scripts/replicate.sh                                  # the full study (20 epochs, all data)
#   scripts/replicate.sh --set data.train_subset=10000    # extra overrides go to every run
#
# Environment: DATA (default ../shared/data/cifar-10-binary.tar.gz), SEEDS (default "0 1"),
# OUT (default runs/replication), ARMS (default: all five), BIN (default target/release/batchramp).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/cifar-10-binary.tar.gz}
SEEDS=${SEEDS:-"0 1"}
OUT=${OUT:-runs/replication}
ARMS=${ARMS:-"decay-lr increase-batch hybrid scaled-lr adaptive"}
BIN=${BIN:-target/release/batchramp}
[[ -x $BIN ]] || cargo build --release
mkdir -p "$OUT" docs/figures

for arm in $ARMS; do
  for seed in $SEEDS; do
    name="paper-$arm-s$seed"
    if compgen -G "$OUT/*-$name/summary.json" >/dev/null; then
      echo "== $name: done already"
      continue
    fi
    echo "== $name"
    "$BIN" train --config "configs/paper-$arm.toml" --data "$DATA" --no-tui --out "$OUT" \
      --set "seed=$seed" --set "name=$name" "$@"
  done
done

# One row per arm over its seeds.
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
arms = {}
for path in sorted(glob.glob(os.path.join(out, "*", "summary.json"))):
    s = json.load(open(path))
    arm = s["name"].rsplit("-s", 1)[0]
    arms.setdefault(arm, []).append(s)
def cell(values, scale=1.0, digits=2):
    v = [x * scale for x in values]
    m = statistics.mean(v)
    half = (max(v) - min(v)) / 2
    return f"{m:.{digits}f} ± {half:.{digits}f}"
print("| arm | seeds | final test acc % | best test acc % | final train loss | updates | wall (min) |")
print("|---|---|---|---|---|---|---|")
for arm, runs in arms.items():
    print(f"| {arm} | {len(runs)} | {cell([r['final_test_acc'] for r in runs], 100)} | "
          f"{cell([r['best_test_acc'] for r in runs], 100)} | {cell([r['final_train_loss'] for r in runs], 1, 3)} | "
          f"{statistics.mean([r['updates'] for r in runs]):.0f} | {statistics.mean([r['wall'] for r in runs]) / 60:.1f} |")
PY

first_seed=${SEEDS%% *}
runs=()
for arm in $ARMS; do runs+=("$OUT"/*-"paper-$arm-s$first_seed"); done
"$BIN" plot "${runs[@]}" --out docs/figures/replication-figure2.png
"$BIN" plot "${runs[@]}" --out docs/figures/replication-figure2.svg

#!/usr/bin/env bash
# Wall time of decay-LR (arm A) against increase-batch (arm B), in one process of one thread and
# over `mpirun -np 2` with one thread per worker, at a short scale that fits a few minutes:
# 10,000 training images, 4 epochs, milestones 1/2/3 (B 128 → 640 → 3,200 → ε ÷5 for B).
# Runs the four trainings back to back and prints a table from their summaries.
#
#   cargo build --release --features mpi && scripts/wall-time.sh
#
# Environment: BIN (default target/release/batchramp, built with --features mpi), DATA (the
# CIFAR-10 archive, default ../shared/data/cifar-10-binary.tar.gz), OUT (default runs/wall-time).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/batchramp}
DATA=${DATA:-../shared/data/cifar-10-binary.tar.gz}
OUT=${OUT:-runs/wall-time}
as_root=()
[[ $(id -u) -eq 0 ]] && as_root=(--allow-run-as-root)
short=(--set data.train_subset=10000 --set schedule.epochs=4 --set 'schedule.milestones=[1,2,3]'
  --set hardware.threads=1)
mkdir -p "$OUT"
for arm in decay-lr increase-batch; do
  for world in 1 2; do
    name="wall-$arm-w$world"
    [[ -n $(compgen -G "$OUT/*-$name/summary.json") ]] && continue
    launch=()
    ((world > 1)) && launch=(mpirun "${as_root[@]}" --oversubscribe -np "$world")
    "${launch[@]}" "$BIN" train --config "configs/paper-$arm.toml" --data "$DATA" --no-tui \
      --out "$OUT" --set "name=$name" "${short[@]}" > "$OUT/$name.out" 2>&1
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
def summary(arm, w):
    return json.load(open(sorted(glob.glob(os.path.join(out, f"*-wall-{arm}-w{w}", "summary.json")))[-1]))
print("| arm | updates | test acc, 1 process | wall, 1 process | test acc, 2 workers | wall, 2 workers | 2 workers ÷ 1 |")
print("|---|---|---|---|---|---|---|")
walls = {}
for arm in ("decay-lr", "increase-batch"):
    one, two = summary(arm, 1), summary(arm, 2)
    walls[arm] = (one["wall"], two["wall"])
    print(f"| {arm} | {one['updates']:,} | {100 * one['final_test_acc']:.2f}% | {one['wall']:.0f} s | "
          f"{100 * two['final_test_acc']:.2f}% | {two['wall']:.0f} s | {one['wall'] / two['wall']:.2f}× |")
a, b = walls["decay-lr"], walls["increase-batch"]
print(f"\nincrease-batch ÷ decay-LR wall time: {b[0] / a[0]:.2f} in one process, {b[1] / a[1]:.2f} on 2 workers")
PY

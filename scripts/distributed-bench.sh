#!/usr/bin/env bash
# The measured table of docs/distributed.md: the ResNet-8 training step at B 640 and 3,200 in
# one process with one thread, in one process with two threads, and over `mpirun -np 2` with one
# thread per worker (the update's micro-batches shared, the gradient all-reduced), one after
# another in one invocation so the ratios compare like with like. Prints the three JSON outputs
# and a table of images/s, the ratios and the all-reduce share.
#
#   cargo build --release --features mpi && scripts/distributed-bench.sh
#
# Environment: BIN (default target/release/batchramp, built with --features mpi), NET (resnet8),
# BATCHES ("640 3200"), STEPS (5), MICRO (hardware.max_micro_batch for the workers, 256).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/batchramp}
NET=${NET:-resnet8}
BATCHES=${BATCHES:-"640 3200"}
STEPS=${STEPS:-5}
MICRO=${MICRO:-256}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
batch_args=()
for b in $BATCHES; do batch_args+=(--batch "$b"); done
common=(bench --net "$NET" "${batch_args[@]}" --steps "$STEPS" --json --set "hardware.max_micro_batch=$MICRO")
as_root=()
[[ $(id -u) -eq 0 ]] && as_root=(--allow-run-as-root)

"$BIN" "${common[@]}" --set hardware.threads=1 > "$out/one-1t.json"
"$BIN" "${common[@]}" --set hardware.threads=2 > "$out/one-2t.json"
mpirun "${as_root[@]}" --oversubscribe -np 2 "$BIN" "${common[@]}" --set hardware.threads=1 > "$out/mpi-2x1t.json"

python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
runs = {k: json.load(open(os.path.join(d, f"{k}.json"))) for k in ("one-1t", "one-2t", "mpi-2x1t")}
for k, v in runs.items():
    print(f"# {k}: {json.dumps(v)}")
print("| B | 1 process, 1 thread (img/s) | 1 process, 2 threads | mpirun -np 2, 1 thread each | ÷ 1 thread | ÷ 2 threads | update ms | waiting for the slower worker ms | all-reduce ms (share of update) |")
print("|---|---|---|---|---|---|---|---|---|")
for a, b, c in zip(runs["one-1t"], runs["one-2t"], runs["mpi-2x1t"]):
    allreduce = c["comm_ms"] - c["wait_ms"]
    print(f"| {a['batch']:,} | {a['images_per_sec']:,.0f} | {b['images_per_sec']:,.0f} | {c['images_per_sec']:,.0f} | "
          f"{c['images_per_sec'] / a['images_per_sec']:.2f}× | {c['images_per_sec'] / b['images_per_sec']:.2f}× | "
          f"{c['step_ms']:.0f} | {c['wait_ms']:.1f} | {allreduce:.1f} ({100 * allreduce / c['step_ms']:.1f}%) |")
PY

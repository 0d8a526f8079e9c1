#!/usr/bin/env bash
# Times our training step and PyTorch's on the same networks, alternating the two per
# configuration (ours first in odd rounds, PyTorch first in even ones) for ROUNDS rounds, and
# prints the median images/s of each, the ratio of the medians, and the per-round paired ratios.
#
# Why interleaved: this machine's speed drifts by ±30% over minutes, so a run of ours followed by
# a run of PyTorch minutes later compares two machine states. Pairs taken seconds apart, in
# alternating order, cancel most of the drift; the median over rounds drops the outliers.
#
#   ROUNDS=5 PYTHON=/path/to/venv/bin/python scripts/cpu-vs-torch.sh
#
# Environment: ROUNDS (default 3), NETS (default "resnet8 resnet20 resnet18"), BATCHES (default
# "32 128"), THREADS (default 2), STEPS (timed steps per run, default 5), PYTHON (an
# interpreter with torch; default python3), BATCHRAMP_BIN (default target/release/batchramp),
# OUT (a JSON Lines file for the raw timings; default none). Extra arguments go to
# `batchramp bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
NETS=${NETS:-"resnet8 resnet20 resnet18"}
BATCHES=${BATCHES:-"32 128"}
THREADS=${THREADS:-2}
STEPS=${STEPS:-5}
PYTHON=${PYTHON:-python3}
BIN=${BATCHRAMP_BIN:-target/release/batchramp}
PEER=${PEER:-../shared/peer/torch_bench.py}

[ -x "$BIN" ] || { echo "cpu-vs-torch: $BIN not found; run cargo build --release first" >&2; exit 2; }
[ -f "$PEER" ] || { echo "cpu-vs-torch: peer script $PEER not found; set PEER=" >&2; exit 2; }
"$PYTHON" -c "import torch" 2>/dev/null ||
  { echo "cpu-vs-torch: $PYTHON cannot import torch; set PYTHON to a venv with torch" >&2; exit 2; }

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

ours() {
  "$BIN" bench --net "$1" --batch "$2" --steps "$STEPS" --json \
    --set hardware.threads="$THREADS" "${@:3}" 2>/dev/null |
    "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["images_per_sec"])'
}

peer() {
  "$PYTHON" "$PEER" --net "$1" --batch "$2" --steps "$STEPS" --threads "$THREADS" --json 2>/dev/null |
    "$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.readline())["images_per_s"])'
}

for round in $(seq 1 "$ROUNDS"); do
  for net in $NETS; do
    for b in $BATCHES; do
      if [ $((round % 2)) -eq 1 ]; then
        o=$(ours "$net" "$b" "$@"); t=$(peer "$net" "$b")
      else
        t=$(peer "$net" "$b"); o=$(ours "$net" "$b" "$@")
      fi
      printf '{"round":%d,"net":"%s","batch":%d,"ours":%s,"torch":%s}\n' \
        "$round" "$net" "$b" "$o" "$t" | tee -a "$raw" >&2
    done
  done
done
[ -n "${OUT:-}" ] && cp "$raw" "$OUT"

"$PYTHON" - "$raw" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = []
for r in rows:
    if (r["net"], r["batch"]) not in keys:
        keys.append((r["net"], r["batch"]))
print(f"{'net':<9} {'batch':>5} {'ours img/s':>10} {'torch img/s':>11} {'ratio':>6}  paired ratios per round")
for net, b in keys:
    rs = [r for r in rows if (r["net"], r["batch"]) == (net, b)]
    o = statistics.median(r["ours"] for r in rs)
    t = statistics.median(r["torch"] for r in rs)
    pairs = " ".join(f"{r['ours'] / r['torch']:.2f}" for r in rs)
    print(f"{net:<9} {b:>5} {o:>10.1f} {t:>11.1f} {o / t:>5.2f}x  {pairs}")
EOF

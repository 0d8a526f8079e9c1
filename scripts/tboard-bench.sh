#!/usr/bin/env bash
# Load benchmark of a TensorBoard logdir: batchramp's reader against TensorBoard's own Python
# loader (EventAccumulator, keeping every point), on the same 1,000,000 scalars written by
# PyTorch's SummaryWriter (4 tags x 250,000 steps). Prints a table with the ratio.
#
#   scripts/tboard-bench.sh [LOGDIR] [PYTHON]
#
# LOGDIR (default /tmp/tboard-bench) is written by scripts/tboard-bench-data.py when missing;
# PYTHON (default /work/venv-tb/bin/python) needs `tensorboard torch` (see
# tests/fixtures/tensorboard/README.md). Both timings are of the load alone, in-process, with
# the file in the page cache (each side reads it once before it is timed).
set -euo pipefail
cd "$(dirname "$0")/.."
LOGDIR=${1:-/tmp/tboard-bench}
PY=${2:-/work/venv-tb/bin/python}
if ! ls "$LOGDIR"/events.out.tfevents.* >/dev/null 2>&1; then
  "$PY" scripts/tboard-bench-data.py "$LOGDIR"
fi
ours=$(cargo bench --quiet --bench tboard -- "$LOGDIR" 2>/dev/null | tee /dev/stderr | sed -n 's/^load_s=//p')
theirs=$("$PY" - "$LOGDIR" <<'PY'
import sys, time, logging
logging.disable(logging.WARNING)
from tensorboard.backend.event_processing import event_accumulator as ea
path = sys.argv[1]
size = {k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE}
open(next(__import__("glob").iglob(path + "/events.out.tfevents.*")), "rb").read()
t = time.perf_counter()
acc = ea.EventAccumulator(path, size_guidance=size)
acc.Reload()
n = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
dt = time.perf_counter() - t
assert n == 1_000_000, n
print(f"{dt:.3f}")
PY
)
tb_version=$("$PY" -c 'import tensorboard; print(tensorboard.__version__)')
printf '\n| loader | load 1,000,000 scalars | vs TensorBoard |\n|---|---:|---:|\n'
printf '| TensorBoard %s EventAccumulator (Python) | %.2f s | 1× |\n' "$tb_version" "$theirs"
printf '| batchramp `Logdir::load` | %.3f s | %.0f× faster |\n' "$ours" "$(echo "$theirs / $ours" | bc -l)"

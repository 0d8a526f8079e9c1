#!/usr/bin/env bash
# What the live UI adds to training time: the same run headless (--no-tui) and in the UI,
# alternating which goes first, compared on the training seconds of each run's summary.json.
#
#   scripts/ui-overhead.sh                 # UI in a bare pseudo-terminal, as over SSH (the
#                                          # terminal emulator runs on the user's machine)
#   MODE=tmux scripts/ui-overhead.sh       # UI inside tmux on this machine (tmux's own
#                                          # rendering then competes with training too)
#
# Environment: PAIRS (default 6), SIZE (default 160x48), BIN (default target/release/batchramp),
# OUT (default a temporary directory). Extra arguments go to every `train`.
# Wall times of identical runs vary by several percent on a shared machine, more than the UI
# costs, so the script also reads the CPU time of every thread of the UI run from /proc just
# before it quits: the UI threads' share of it is the direct cost, free of that noise.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-6}
SIZE=${SIZE:-160x48}
MODE=${MODE:-pty}
BIN=$(realpath "${BIN:-target/release/batchramp}")
OUT=${OUT:-$(mktemp -d)}
[[ -x $BIN ]] || cargo build --release
cols=${SIZE%x*}
rows=${SIZE#*x}
# ResNet-8 on 8,000 synthetic images, 5 epochs with one batch increase: about a minute on 2 cores.
args=(train --data synthetic --set data.synthetic_train=8000 --set data.synthetic_test=1000
  --set schedule.epochs=5 --set schedule.batch=64 --set model.ghost_batch=64
  --set 'schedule.milestones=[3]' --set checkpoint.every_epochs=0 --set checkpoint.at_stage_change=false "$@")

wall() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall"])' "$1"/*/summary.json; }

# CPU seconds of the UI threads and of all threads of the process writing to run directory $1.
thread_cpu() {
  local pid
  # The batchramp process itself, not the `script` or tmux process whose arguments also hold it.
  pid=$(for p in $(pgrep -f -- "--out $1"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == batchramp ]] && echo "$p"; done | head -1)
  [[ -n $pid ]] || { echo "0 0"; return; }
  python3 - "$pid" <<'PY'
import os, sys
pid, tick = sys.argv[1], os.sysconf("SC_CLK_TCK")
ui = 0.0
# The process total (its stat counts threads that have ended too).
stat = open(f"/proc/{pid}/stat").read()
fields = stat[stat.rfind(")") + 2:].split()
total = (int(fields[11]) + int(fields[12])) / tick
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
    except OSError:
        continue
    fields = stat[stat.rfind(")") + 2:].split()
    if name.startswith("tui"):
        ui += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
print(f"{ui:.2f} {total:.2f}")
PY
}

# Once the run in $1 has written its summary: records its threads' CPU time in $1/cpu, then
# sends `q` so the finished UI closes.
quit_when_done() {
  until compgen -G "$1/*/summary.json" >/dev/null; do sleep 0.5; done
  sleep 1
  thread_cpu "$1" > "$1/cpu"
  printf q
}

headless() { "$BIN" "${args[@]}" --out "$1" --no-tui >/dev/null; }

with_ui() {
  local dir=$1 cmd
  cmd="stty rows $rows cols $cols; TERM=xterm-256color exec $(printf '%q ' "$BIN" "${args[@]}" --out "$dir")"
  case $MODE in
    pty) quit_when_done "$dir" | script -qefc "$cmd" /dev/null >/dev/null ;;
    tmux)
      local session=batchramp-overhead-$$
      tmux new-session -d -s "$session" -x "$cols" -y "$rows" "$cmd"
      until compgen -G "$dir/*/summary.json" >/dev/null; do sleep 0.5; done
      sleep 1
      thread_cpu "$dir" > "$dir/cpu"
      tmux send-keys -t "$session" q
      while tmux has-session -t "$session" 2>/dev/null; do sleep 0.2; done
      ;;
    *) echo "MODE must be pty or tmux, not $MODE" >&2; exit 2 ;;
  esac
}

echo "UI overhead, $MODE at ${cols}x${rows}, $PAIRS pairs, runs in $OUT"
overheads=() shares=()
for i in $(seq 1 "$PAIRS"); do
  h="$OUT/headless-$i" u="$OUT/ui-$i"
  mkdir -p "$h" "$u"
  if (( i % 2 )); then headless "$h"; with_ui "$u"; else with_ui "$u"; headless "$h"; fi
  th=$(wall "$h") tu=$(wall "$u")
  o=$(python3 -c "print(f'{(float($tu) / float($th) - 1) * 100:+.2f}')")
  overheads+=("$o")
  read -r ui_cpu all_cpu < "$u/cpu"
  share=$(python3 -c "print(f'{100 * $ui_cpu / $all_cpu:.2f}' if $all_cpu > 0 else 'nan')")
  shares+=("$share")
  printf 'pair %d: headless %.2f s, UI %.2f s, wall overhead %s%%; UI threads %.2f of %.2f CPU s (%s%%)\n' \
    "$i" "$th" "$tu" "$o" "$ui_cpu" "$all_cpu" "$share"
done
python3 - "${#overheads[@]}" "${overheads[@]}" "${shares[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
v = [float(x) for x in sys.argv[2:2 + n]]
s = [float(x) for x in sys.argv[2 + n:]]
print(f"wall overhead: median {statistics.median(v):+.2f}% (mean {statistics.mean(v):+.2f}%, range {min(v):+.2f}..{max(v):+.2f}%)")
s = [x for x in s if x == x]
if s:
    print(f"UI threads' share of the run's CPU time: median {statistics.median(s):.2f}% (range {min(s):.2f}..{max(s):.2f}%)")
PY

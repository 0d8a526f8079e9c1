#!/usr/bin/env python3
"""Summarises a scripts/gpu-check.sh results folder: throughput and peak memory per stage for
batchramp and PyTorch side by side, then batchramp's reported device memory against nvidia-smi.

Usage: python3 scripts/gpu_summary.py RESULTS_DIR   (prints the table; writes summary.json there)
Standard library only, so it runs with any Python 3.8+.
"""
import glob
import json
import os
import statistics
import sys

MIB = 2**20


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def status(res):
    """name -> (code or word, seconds) from status.tsv."""
    out = {}
    for line in read(os.path.join(res, "status.tsv")).splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


def smi(path):
    """[(epoch seconds, used MiB, total MiB, reserved MiB or None)] from a sampler file."""
    rows = []
    for line in read(path).splitlines():
        f = [x.strip() for x in line.split(",")]
        try:
            rows.append((float(f[0]), float(f[1]), float(f[2]), float(f[3]) if len(f) > 3 else None))
        except (ValueError, IndexError):
            continue  # "[N/A]" or a line cut short when the sampler was stopped
    return rows


def why_failed(res, name, st):
    code, secs = st.get(name, ("not run", "0"))
    if code == "0":
        return None
    if code in ("124", "137"):
        return f"time-out {secs}s"
    if not code.isdigit():
        return code
    err = [ln for ln in read(os.path.join(res, f"{name}.err")).splitlines() if ln.strip()]
    return f"exit {code}: {err[-1][:60]}" if err else f"exit {code}"


def ours(res, b):
    text = read(os.path.join(res, f"ours_{b}.out"))
    i = text.find("[")
    if i < 0:
        return None
    try:
        rows = json.loads(text[i:])
    except ValueError:
        return None
    return next((r for r in rows if r.get("batch") == b), None)


def torch_row(res, b):
    info, row = None, None
    for line in read(os.path.join(res, f"torch_{b}.out")).splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "info" in obj:
            info = obj["info"]
        elif obj.get("batch") == b:
            row = obj
    return info, row


def peak(res, name, idle):
    rows = smi(os.path.join(res, f"{name}.smi"))
    return (max(r[1] for r in rows) - idle) if rows else None


def fmt(x, spec=".0f", none="-"):
    return none if x is None else format(x, spec)


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: gpu_summary.py RESULTS_DIR", file=sys.stderr)
        return 2
    res = sys.argv[1]
    st = status(res)
    idle_rows = smi(os.path.join(res, "idle.smi"))
    idle = statistics.median(r[1] for r in idle_rows) if idle_rows else 0.0
    batches = sorted({int(n.split("_")[1]) for n in st if n.startswith(("ours_", "torch_"))})
    summary = {"idle_used_mib": idle, "stages": [], "memory": None, "verdicts": {}}

    print(read(os.path.join(res, "machine.txt")).strip())
    info = None
    print()
    print("ResNet-18, fp32, full step (upload, forward, backward, SGD momentum), median of timed steps")
    print("peak = highest nvidia-smi memory.used while that process ran, minus the idle "
          f"{idle:.0f} MiB; torch alloc = max_memory_allocated")
    head = f"{'batch':>6} {'ours img/s':>11} {'torch img/s':>12} {'ours/torch':>10} " \
           f"{'ours peak':>10} {'torch peak':>11} {'torch alloc':>12}  notes"
    print(head)
    print("-" * len(head))
    ours_speeds = []
    for b in batches:
        o = ours(res, b)
        tinfo, t = torch_row(res, b)
        info = info or tinfo
        notes = []
        fo = why_failed(res, f"ours_{b}", st)
        ft = why_failed(res, f"torch_{b}", st)
        if fo:
            notes.append(f"ours: {fo}")
        if t and "error" in t:
            notes.append(f"torch: {t['error'][:60]}")
            t = None
        elif ft:
            notes.append(f"torch: {ft}")
        oi = o["images_per_sec"] if o else None
        ti = t["images_per_sec"] if t else None
        ratio = oi / ti if oi and ti else None
        row = {
            "batch": b,
            "ours_images_per_sec": oi,
            "ours_step_ms": o["step_ms"] if o else None,
            "torch_images_per_sec": ti,
            "torch_step_ms": t["step_ms"] if t else None,
            "ours_over_torch": ratio,
            # A process that failed early says nothing about its memory.
            "ours_peak_mib": peak(res, f"ours_{b}", idle) if o else None,
            "torch_peak_mib": peak(res, f"torch_{b}", idle) if t else None,
            "torch_max_allocated_mib": t.get("max_allocated_mib") if t else None,
            "torch_max_reserved_mib": t.get("max_reserved_mib") if t else None,
            "notes": notes,
        }
        summary["stages"].append(row)
        ours_speeds.append(oi)
        print(f"{b:>6} {fmt(oi, '.1f'):>11} {fmt(ti, '.1f'):>12} {fmt(ratio, '.2f'):>10} "
              f"{fmt(row['ours_peak_mib']):>10} {fmt(row['torch_peak_mib']):>11} "
              f"{fmt(row['torch_max_allocated_mib']):>12}  {'; '.join(notes)}")
    if info:
        print(f"PyTorch: {info.get('peer')} CUDA {info.get('cuda')} cuDNN {info.get('cudnn')} "
              f"on {info.get('gpu')}; TF32 state {info.get('tf32')}")
    ok_speed = [r["ours_over_torch"] for r in summary["stages"]]
    if ok_speed and all(x is not None for x in ok_speed):
        summary["verdicts"]["ours_at_least_torch_each_stage"] = all(x >= 1.0 for x in ok_speed)
    if ours_speeds and all(x is not None for x in ours_speeds):
        summary["verdicts"]["ours_rising_with_batch"] = all(
            a < b for a, b in zip(ours_speeds, ours_speeds[1:]))

    # --- memory: the train run's resources events against nvidia-smi -------------------------
    print()
    ev_files = sorted(glob.glob(os.path.join(res, "runs", "*", "events.jsonl")))
    events = []
    device = None
    for line in read(ev_files[0]).splitlines() if ev_files else []:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("kind") == "resources":
            events.append(e)
        elif e.get("kind") == "run_started":
            device = e.get("device")
    train_smi = smi(os.path.join(res, "train.smi"))
    t0s = read(os.path.join(res, "train_t0")).strip()
    t0 = float(t0s) if t0s else None
    ft = why_failed(res, "train", st)
    print(f"train run (seed config, 3 one-epoch stages, synthetic data) on {device or '?'}: "
          f"{ft or 'finished'}; {len(events)} resources events, {len(train_smi)} nvidia-smi samples")
    mem = {"events": len(events), "smi_samples": len(train_smi)}
    with_mem = [e for e in events if e.get("device_used") is not None]
    if not with_mem:
        notes = {e.get("note") for e in events if e.get("note")}
        print(f"  no device memory in the events; notes: {sorted(notes) or 'none'}")
    if with_mem and train_smi:
        ours_peak = max(e["device_used"] for e in with_mem) / MIB
        smi_peak = max(r[1] for r in train_smi)
        ours_total = with_mem[-1].get("device_total", 0) / MIB
        smi_total = train_smi[-1][2]
        pairs = []
        if t0 is not None:
            for e in with_mem:
                when = t0 + e["t"]
                near = min(train_smi, key=lambda r: abs(r[0] - when))
                if abs(near[0] - when) <= 0.5:
                    pairs.append((e["device_used"] / MIB, near[1], near[3]))
        busy = [p for p in pairs if p[1] > idle + 1024] or pairs
        rel = [abs(o - s) / s for o, s, _ in busy if s > 0]
        rel_r = [abs(o - (s + r)) / (s + r) for o, s, r in busy if r is not None and s + r > 0]
        med = statistics.median(rel) if rel else None
        print(f"  memory.total: ours {ours_total:.0f} MiB, nvidia-smi {smi_total:.0f} MiB")
        print(f"  peak used:    ours {ours_peak:.0f} MiB, nvidia-smi {smi_peak:.0f} MiB "
              f"({(ours_peak - smi_peak) / smi_peak * 100:+.1f}%; ours samples 1/s, nvidia-smi ~10/s)")
        if rel:
            print(f"  time-paired (|dt| <= 0.5 s, {len(busy)} pairs under load): median |ours - smi| / smi "
                  f"= {med * 100:.1f}%, worst {max(rel) * 100:.1f}%")
            if rel_r:
                print(f"  against used + reserved: median {statistics.median(rel_r) * 100:.1f}%")
            summary["verdicts"]["memory_within_5pct"] = med <= 0.05
        else:
            print("  no time-paired samples (train_t0 missing or clocks apart); compare the peaks")
        mem.update(ours_peak_mib=ours_peak, smi_peak_mib=smi_peak, ours_total_mib=ours_total,
                   smi_total_mib=smi_total, pairs=len(busy), median_rel=med,
                   median_rel_with_reserved=statistics.median(rel_r) if rel_r else None)
    nv = [e for e in events if e.get("gpu_util") is not None]
    nvml_note = st.get("nvml", ("?", ""))[0]
    print(f"  NVML figures (util/temp/power) in {len(nv)} of {len(events)} events; NVML library: {nvml_note}")
    if nv:
        e = nv[-1]
        print(f"  last: util {e.get('gpu_util')}%  temp {e.get('gpu_temp')} C  power {e.get('gpu_power')} W")
    summary["verdicts"]["nvml_figures_present"] = bool(nv) if events else None
    summary["memory"] = mem

    print()
    names = {
        "ours_at_least_torch_each_stage": "images/s >= PyTorch eager at every stage",
        "ours_rising_with_batch": "our images/s rises with batch size",
        "memory_within_5pct": "reported device memory within 5% of nvidia-smi",
        "nvml_figures_present": "NVML utilisation/temperature/power reported",
    }
    for k, label in names.items():
        v = summary["verdicts"].get(k)
        print(f"  {'PASS' if v else ('FAIL' if v is False else 'n/a ')}  {label}")
    with open(os.path.join(res, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

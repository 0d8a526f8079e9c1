#!/usr/bin/env python3
"""The replication study's report, from its runs: a small copy of every run for the record
(config, summary, epoch-level events) under docs/replication/runs/, the per-arm table (mean and
half-range over seeds), the per-epoch test-accuracy table of seed 0, and the figures, drawn by
`batchramp plot` from the copies.

    scripts/replication_report.py RUNS_DIR BINARY ARM:SEED...

Prints Markdown tables on stdout. Logs of schema v1 count epochs from 0; they are read in the
numbering of v2 (from 1), as batchramp reads them.
"""

import glob
import json
import os
import statistics
import subprocess
import sys

KEEP = "docs/replication/runs"


def records(path):
    """The log's records, epochs counted from 1 whatever the schema."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("v", 1) < 2:
                if r["kind"] in ("epoch", "step", "stage", "checkpoint"):
                    r["epoch"] += 1
                elif r["kind"] == "finished":
                    r["best_epoch"] += 1
            out.append(r)
    return out


def copy_run(run, name):
    """Config, summary and the epoch-level events (steps and resources dropped, every 10th
    noise-scale sample kept): enough for `batchramp plot` of every epoch-level metric and of
    B_simple. The copy keeps the log's own lines and schema."""
    keep = os.path.join(KEEP, name)
    os.makedirs(keep, exist_ok=True)
    for f in ("summary.json", "config.toml"):
        with open(os.path.join(run, f)) as src, open(os.path.join(keep, f), "w") as dst:
            dst.write(src.read())
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
    return keep


def cell(values, scale=1.0, digits=2):
    v = [x * scale for x in values]
    if not v:
        return "–"
    m = statistics.mean(v)
    if len(v) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {(max(v) - min(v)) / 2:.{digits}f}"


def main():
    runs_dir, binary, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    arms = {}  # arm -> [(seed, run copy dir, summary, records)]
    for spec in specs:
        arm, seed = spec.split(":")
        name = f"paper-{arm}-s{seed}"
        found = sorted(glob.glob(os.path.join(runs_dir, f"*-{name}", "summary.json")))
        if found:
            run = os.path.dirname(found[-1])
            keep = copy_run(run, name)
        elif os.path.exists(os.path.join(KEEP, name, "summary.json")):
            # A run of an earlier machine, kept only as its committed copy: the copy is the record.
            run = keep = os.path.join(KEEP, name)
        else:
            print(f"(no finished run of {name} yet)", file=sys.stderr)
            continue
        summary = json.load(open(os.path.join(run, "summary.json")))
        recs = records(os.path.join(run, "events.jsonl"))
        arms.setdefault(arm, []).append((int(seed), keep, summary, recs))
    if not arms:
        sys.exit("no finished runs")

    def baseline(arm):
        """The decay-LR arm an arm is compared with: its optimizer's (SGD momentum for the
        paper's arms)."""
        for prefix in ("adam-", "nesterov-"):
            if arm.startswith(prefix):
                return arms.get(prefix + "decay-lr")
        return arms.get("decay-lr")

    print("| arm | seeds | final test acc % | Δ vs decay-LR | best test acc % | final train loss | updates | ÷ decay-LR updates | wall (min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arm, runs in arms.items():
        base = baseline(arm)
        base_acc = statistics.mean(s["final_test_acc"] for _, _, s, _ in base) if base else None
        base_updates = statistics.mean(s["updates"] for _, _, s, _ in base) if base else None
        finals = [s["final_test_acc"] for _, _, s, _ in runs]
        updates = statistics.mean(s["updates"] for _, _, s, _ in runs)
        delta = f"{100 * (statistics.mean(finals) - base_acc):+.2f}" if base_acc is not None else "–"
        ratio = f"{base_updates / updates:.2f}×" if base_updates else "–"
        print(
            f"| {arm} | {len(runs)} | {cell(finals, 100)} | {delta} | "
            f"{cell([s['best_test_acc'] for _, _, s, _ in runs], 100)} | "
            f"{cell([s['final_train_loss'] for _, _, s, _ in runs], 1, 3)} | {updates:,.0f} | {ratio} | "
            f"{statistics.mean(s['wall'] for _, _, s, _ in runs) / 60:.1f} |"
        )

    # Test accuracy per epoch, seed 0.
    epochs = None
    rows = []
    for arm, runs in arms.items():
        seed0 = [r for r in runs if r[0] == 0]
        if not seed0:
            continue
        accs = [r["test_acc"] for r in seed0[0][3] if r["kind"] == "epoch"]
        epochs = max(epochs or 0, len(accs))
        stages = [r["epoch"] for r in seed0[0][3] if r["kind"] == "stage" and r["index"] > 0]
        rows.append((arm, accs, stages))
    print()
    print("| epoch | " + " | ".join(str(e) for e in range(1, epochs + 1)) + " |")
    print("|---|" + "---|" * epochs)
    for arm, accs, stages in rows:
        # A stage change before an epoch is marked on that epoch's figure.
        marked = [f"{'*' if e + 1 in stages else ''}{100 * a:.1f}" for e, a in enumerate(accs)]
        print(f"| {arm} | " + " | ".join(marked) + " |")

    def seed0(names):
        return [r[1] for a in names if a in arms for r in arms[a] if r[0] == 0]

    os.makedirs("docs/figures", exist_ok=True)
    main_arms = seed0(["decay-lr", "increase-batch", "hybrid", "scaled-lr", "adaptive", "adaptive-plateau"])
    plot = [binary, "plot"]
    if main_arms:
        for ext in ("png", "svg"):
            subprocess.run(
                plot + main_arms + ["--out", f"docs/figures/replication-figure2.{ext}",
                                    "--title", "CIFAR-10, ResNet-8, full scale, seed 0"], check=True)
    noise = seed0(["decay-lr", "increase-batch", "adaptive"])
    if noise:
        subprocess.run(plot + noise + ["--metric", "b_simple", "--x", "epoch", "--out",
                                       "docs/figures/replication-noise-scale.png",
                                       "--title", "Measured noise scale B_simple, seed 0"], check=True)
        subprocess.run(plot + seed0(["decay-lr", "increase-batch", "adaptive", "adaptive-plateau"])
                       + ["--metric", "batch", "--x", "epoch", "--out", "docs/figures/replication-batch.png",
                          "--title", "Batch size, seed 0"], check=True)
    optim = seed0(["adam-decay-lr", "adam-increase-batch", "nesterov-decay-lr", "nesterov-increase-batch"])
    if optim:
        subprocess.run(plot + optim + ["--out", "docs/figures/replication-optimizers.png",
                                       "--title", "Adam and Nesterov, seed 0"], check=True)


if __name__ == "__main__":
    main()

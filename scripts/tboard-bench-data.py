#!/usr/bin/env python3
"""Writes the load benchmark's logdir: 1,000,000 scalars (4 tags x 250,000 steps) with
PyTorch's SummaryWriter, as a PyTorch training loop logs them.

    /work/venv-tb/bin/python scripts/tboard-bench-data.py /tmp/tboard-bench [steps]
"""

import math
import sys

from torch.utils.tensorboard import SummaryWriter

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/tboard-bench"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 250_000
with SummaryWriter(out, max_queue=10_000, flush_secs=3600) as w:
    for step in range(steps):
        w.add_scalar("train/loss", 2.3 * math.exp(-step / 50_000) + 0.05 * math.sin(step), step)
        w.add_scalar("train/accuracy", 1 - math.exp(-step / 40_000), step)
        w.add_scalar("lr-SGD", 0.1 if step < 125_000 else 0.01, step)
        w.add_scalar("batch_size", 128 if step < 125_000 else 640, step)
print(f"wrote {4 * steps} scalars to {out}")

#!/usr/bin/env python3
"""Times PyTorch's convolution forward + backward (input and weight gradient) on the layer
shapes `cargo bench --bench kernels` times for ours, one line per case under the same name, so
the two can be read side by side. Run it right after the kernel bench (this machine's speed
drifts over minutes):

    cargo bench --bench kernels -- r18 --fast-only --batch 32
    /path/to/venv/bin/python scripts/torch-conv-layers.py --batch 32

Each case: 3 warm-up runs, then the median of --iters timed runs, on --threads threads.
"""
import argparse, statistics, time

import torch
import torch.nn.functional as F

# (net, cin, hw, cout, k, stride), as in benches/kernels.rs
CASES = [
    ("r18", 64, 32, 64, 3, 1),
    ("r18", 64, 32, 128, 3, 2),
    ("r18", 128, 16, 128, 3, 1),
    ("r18", 128, 16, 256, 3, 2),
    ("r18", 256, 8, 256, 3, 1),
    ("r18", 256, 8, 512, 3, 2),
    ("r18", 512, 4, 512, 3, 1),
    ("r18", 64, 32, 128, 1, 2),
    ("r18", 256, 8, 512, 1, 2),
    ("r20", 16, 32, 16, 3, 1),
    ("r20", 32, 16, 32, 3, 1),
    ("r20", 64, 8, 64, 3, 1),
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, nargs="+", default=[32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=15)
    p.add_argument("--filter", default="", help="only cases whose name contains this")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"threads: {a.threads}; forward + input and weight gradient, median of {a.iters}")
    for b in a.batch:
        for net, cin, hw, cout, k, s in CASES:
            name = f"{net} conv{k}x{k} b{b} {cin}->{cout} {hw}x{hw} s{s}"
            if a.filter not in name:
                continue
            x = torch.randn(b, cin, hw, hw, requires_grad=True)
            w = torch.randn(cout, cin, k, k, requires_grad=True)

            def run():
                y = F.conv2d(x, w, stride=s, padding=k // 2)
                y.backward(torch.ones_like(y))

            for _ in range(3):
                run()
            times = []
            for _ in range(a.iters):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            print(f"{name:44} {statistics.median(times) * 1e3:9.3f} ms")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch peer for `batchramp bench`: times one full training step of the CIFAR ResNet-18.

The network has batchramp's structure (src/model/resnet.rs): 3x3 stem conv + BN + ReLU with
no max-pool, four stages of two basic blocks (64/128/256/512 channels, stride 2 at the start of
stages 2-4), 1x1 conv + BN shortcuts where the shape changes, global average pool, linear
classifier. Plain batch norm (ghost batch norm changes statistics, not the work per image).

One step = host-to-device copy of the batch (as batchramp's bench uploads its batch each step),
forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4 (batchramp's
`momentum` optimizer), then a device synchronize before the clock stops. fp32 parameters and
activations; PyTorch's TF32 settings are printed and left at their defaults unless --tf32 says
otherwise. Reports the median step time, images/s and the caching allocator's peak memory.

Usage: python3 scripts/gpu_peer.py --device cuda --batch 128 640 3200 --steps 5 --json
"""
import argparse
import gc
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# (stem width, stage widths, blocks per stage), as in src/model/resnet.rs
NETS = {
    "resnet8": (16, [16, 32, 64], 1),
    "resnet20": (16, [16, 32, 64], 3),
    "resnet18": (64, [64, 128, 256, 512], 2),
}


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvBn(cin, cout, 3, stride)
        self.b = ConvBn(cout, cout, 3, 1)
        self.shortcut = ConvBn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    def __init__(self, arch, classes=10):
        super().__init__()
        stem, widths, depth = NETS[arch]
        self.stem = ConvBn(3, stem, 3, 1)
        blocks, cin = [], stem
        for stage, width in enumerate(widths):
            for i in range(depth):
                blocks.append(Block(cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        h = self.blocks(F.relu(self.stem(x)))
        return self.fc(h.mean((2, 3)))


NEW_TF32_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")  # torch >= 2.9


def tf32_state():
    """The flags that decide whether fp32 convolutions and matmuls use TF32 tensor cores."""
    # torch >= 2.9 warns about (and may refuse a mix with) the legacy allow_tf32 flags, so read
    # whichever API this version has.
    if NEW_TF32_API:
        state = {
            "cuda.matmul.fp32_precision": torch.backends.cuda.matmul.fp32_precision,
            "cudnn.conv.fp32_precision": torch.backends.cudnn.conv.fp32_precision,
        }
    else:
        state = {
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        }
    state["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    state["cudnn.benchmark"] = torch.backends.cudnn.benchmark
    return state


def set_tf32(mode):
    if mode == "default":
        return
    on = mode == "on"
    if NEW_TF32_API:
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(arch, batch, steps, warmup, device, channels_last):
    torch.manual_seed(0)
    net = ResNet(arch).to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    # Host-side batch, uploaded every step like batchramp's bench; values do not affect speed.
    x_host = torch.randn(batch, 3, 32, 32)
    y_host = torch.arange(batch) % 10
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        sync(device)
        t0 = time.perf_counter()
        x = x_host.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y_host.to(device)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    r = {
        "peer": f"torch {torch.__version__}",
        "net": arch,
        "batch": batch,
        "device": str(device),
        "steps": steps,
        "step_ms": step * 1e3,
        "images_per_sec": batch / step,
        "loss": float(loss),
    }
    if device.type == "cuda":
        r["max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        r["max_reserved_mib"] = torch.cuda.max_memory_reserved(device) / 2**20
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="resnet18", choices=sorted(NETS))
    p.add_argument("--batch", nargs="+", type=int, default=[128, 640, 3200])
    p.add_argument("--steps", type=int, default=5, help="timed steps per batch size")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--tf32", choices=["default", "on", "off"], default="default",
                   help="TF32 for fp32 convs/matmuls: leave PyTorch's default, or force it")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    a = p.parse_args()
    if a.steps < 1 or a.warmup < 0 or min(a.batch) < 1:
        p.error("--steps and --batch must be at least 1, --warmup at least 0")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"gpu_peer.py: --device {a.device}: torch {torch.__version__} sees no GPU", file=sys.stderr)
        return 1
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    set_tf32(a.tf32)
    info = {"peer": f"torch {torch.__version__}", "device": str(device), "tf32": tf32_state()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    print(json.dumps({"info": info}) if a.json else f"# {info}", flush=True)
    failed = 0
    for b in a.batch:
        # Each batch size on its own: an out-of-memory error at one must not lose the others.
        try:
            r = bench(a.net, b, a.steps, a.warmup, device, a.channels_last)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            first = (str(e).splitlines() or [""])[0]
            r = {"net": a.net, "batch": b, "error": f"{type(e).__name__}: {first}"}
        if "error" in r and device.type == "cuda":
            # Outside the except block, so the traceback's frames (and their tensors) are gone.
            gc.collect()
            torch.cuda.empty_cache()
        if a.json:
            print(json.dumps(r), flush=True)
        elif "error" in r:
            print(f"{a.net} batch={b} FAILED {r['error']}", flush=True)
        else:
            mem = f" peak_alloc={r['max_allocated_mib']:.0f}MiB" if "max_allocated_mib" in r else ""
            print(f"{r['peer']} {a.net} batch={b} step={r['step_ms']:.1f}ms "
                  f"images/s={r['images_per_sec']:.1f}{mem}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

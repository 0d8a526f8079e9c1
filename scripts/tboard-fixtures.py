#!/usr/bin/env python3
"""Writes the TensorBoard test fixtures with real writers, then records what TensorBoard's own
reader (EventAccumulator, keeping every point) reports for them.

Run from the repository root with a venv that has `tensorboard numpy torch` (kept outside the
repository, e.g. /work/venv-tb):

    /work/venv-tb/bin/python scripts/tboard-fixtures.py

It rewrites tests/fixtures/tensorboard/ (logdirs and expected.json) and prints the writer
versions for the README beside them. Values and steps are deterministic; the wall times of
file headers are the writing time, so the files change from one run of this script to the next.
"""

import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import time

import numpy as np
import tensorboard
import torch
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import event_multiplexer as em
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.scalar import summary_v2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

OUT = os.path.join("tests", "fixtures", "tensorboard")
T0 = 1_700_000_000.0
HOST = socket.gethostname()


def wall(step):
    return T0 + step * 0.25


def loss_at(step):
    return float(np.float32(2.302585 * np.exp(-0.07 * step) + 0.01 * np.sin(step)))


def write_pytorch(logdir):
    """Scalars (one NaN), add_scalars sub-runs, histograms, images, text, a graph, hparams."""
    rng = np.random.default_rng(0)
    with SummaryWriter(logdir) as w:
        for step in range(30):
            w.add_scalar("train/loss", loss_at(step), step, walltime=wall(step))
            w.add_scalar("train/accuracy", 0.1 + 0.8 * step / 29, step, walltime=wall(step))
            w.add_scalar("lr-SGD", 0.1, step, walltime=wall(step))
            w.add_scalar("batch_size", 128 if step < 15 else 640, step, walltime=wall(step))
            if step % 10 == 0:
                w.add_histogram(
                    "weights/conv1", rng.normal(size=64), step, walltime=wall(step), bins=8
                )
                w.add_scalars(
                    "loss", {"train": loss_at(step), "val": loss_at(step) * 1.1}, step,
                    walltime=wall(step),
                )
        w.add_scalar("train/loss", float("nan"), 30, walltime=wall(30))
        img = (rng.random((3, 4, 4)) * 255).astype(np.uint8)
        w.add_image("samples", img, 0, walltime=wall(0))
        w.add_text("notes", "batch size 128 → 640 at step 15", 0, walltime=wall(0))
        w.add_graph(torch.nn.Linear(3, 2), torch.zeros(1, 3))
        w.add_hparams(
            {"lr": 0.1, "batch_size": 128, "optimizer": "sgd", "nesterov": True},
            {"hparam/test_acc": 0.875},
            run_name="hparams",
        )


def write_restart(logdir):
    """A run that is restarted from step 10 with purge_step (two files in one directory)."""
    with SummaryWriter(logdir) as w:
        for step in range(20):
            w.add_scalar("loss", loss_at(step), step, walltime=wall(step))
            w.add_scalar("acc", step / 20, step, walltime=wall(step))
    time.sleep(1.1)  # file names sort by their second
    with SummaryWriter(logdir, purge_step=10) as w:
        for step in range(10, 25):
            w.add_scalar("loss", loss_at(step) + 0.5, step, walltime=wall(step) + 100)
            w.add_scalar("acc", step / 25, step, walltime=wall(step) + 100)


def tensor_value(tag, arr, first, content=False):
    proto = tensor_util.make_tensor_proto(arr)
    if content:
        proto.ClearField("float_val")
        proto.tensor_content = np.asarray(arr).tobytes()
    value = summary_pb2.Summary.Value(tag=tag, tensor=proto)
    if first:
        value.metadata.CopyFrom(scalar_metadata.create_summary_metadata(None, None))
    return value


def write_tf2(logdir):
    """TF2-style tensor scalars: metadata only on each tag's first event, as tf.summary does.

    float32 through summary_v2.scalar_pb (what tf.summary.scalar writes), double and half
    tensors, a float32 in tensor_content, and a histogram tensor that must be ignored."""
    for run, scale in (("train", 1.0), ("validation", 1.2)):
        w = EventFileWriter(os.path.join(logdir, run))
        for step in range(12):
            first = step == 0
            summary = summary_v2.scalar_pb("epoch_loss", loss_at(step) * scale)
            if not first:
                summary.value[0].ClearField("metadata")
            summary.value.extend([
                tensor_value("epoch_accuracy", np.float64(0.1 + step / 13.0 * scale), first),
                tensor_value("epoch_learning_rate", np.float16(0.1 / (1 + step)), first),
                tensor_value("raw/content", np.float32(step * 0.3), first, content=True),
            ])
            hist = summary_pb2.Summary.Value(
                tag="weights", tensor=tensor_util.make_tensor_proto(np.zeros((3, 3), np.float64)))
            if first:
                hist.metadata.plugin_data.plugin_name = "histograms"
            summary.value.append(hist)
            w.add_event(event_pb2.Event(wall_time=wall(step), step=step, summary=summary))
        w.close()


def write_nested(logdir):
    """Runs at several depths, including the logdir itself ('.')."""
    for run, base in ((".", 0.0), ("a/train", 1.0), ("a/eval", 2.0), ("b/c/d", 3.0)):
        with SummaryWriter(os.path.join(logdir, run)) as w:
            for step in range(5):
                w.add_scalar("value", base + step / 8, step * 100, walltime=wall(step))


def small_run(logdir, steps=12):
    with SummaryWriter(logdir) as w:
        for step in range(steps):
            w.add_scalar("loss", loss_at(step), step, walltime=wall(step))
    files = [f for f in os.listdir(logdir) if "tfevents" in f]
    return os.path.join(logdir, files[0])


def records(path):
    """(offset, length) of each record in a TFRecord file."""
    out, data, at = [], open(path, "rb").read(), 0
    while at + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        out.append((at, n))
        at += 12 + n + 4
    return out


def damage(path, which, index):
    """Flips one byte of record `index`: in its data ('data') or in its length ('length')."""
    at, n = records(path)[index]
    buf = bytearray(open(path, "rb").read())
    buf[at + (12 + n // 2 if which == "data" else 1)] ^= 0x10
    open(path, "wb").write(bytes(buf))


SIZE = {k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE}


def accumulate(logdir):
    """What TensorBoard's EventAccumulator reports: run → tag → [[step, wall_time, value]]."""
    mux = em.EventMultiplexer(size_guidance=SIZE).AddRunsFromDirectory(logdir)
    mux.Reload()
    runs, hparams = {}, {}
    for run in sorted(mux.Runs()):
        acc = mux.GetAccumulator(run)
        tags = acc.Tags()
        series = {}
        for tag in tags["scalars"]:
            series[tag] = [[e.step, e.wall_time, repr(e.value)] for e in acc.Scalars(tag)]
        for tag in tags["tensors"]:
            meta = acc.SummaryMetadata(tag)
            if meta.plugin_data.plugin_name != "scalars":
                continue
            series[tag] = [
                [e.step, e.wall_time, repr(float(tensor_util.make_ndarray(e.tensor_proto)))]
                for e in acc.Tensors(tag)
            ]
        runs[run] = series
        try:
            contents = acc.PluginTagToContent("hparams").values()
        except KeyError:  # no hparams in this run
            contents = []
        for content in contents:
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.WhichOneof("data") == "session_start_info":
                hp = {}
                for k, v in data.session_start_info.hparams.items():
                    kind = v.WhichOneof("kind")
                    hp[k] = {"number_value": v.number_value, "string_value": v.string_value,
                             "bool_value": v.bool_value}.get(kind)
                hparams[run] = hp
    return {"runs": runs, "hparams": hparams}


def neutral_names(root):
    """Renames event files so the committed names hold no host name (their order is kept)."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            if HOST in f:
                os.rename(os.path.join(dirpath, f),
                          os.path.join(dirpath, f.replace(HOST, "fixture-host")))


def main():
    if os.path.exists(OUT):
        for entry in os.listdir(OUT):
            if entry != "README.md":
                p = os.path.join(OUT, entry)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, writer in (("pytorch", write_pytorch), ("restart", write_restart),
                         ("tf2", write_tf2), ("nested", write_nested)):
        writer(os.path.join(OUT, name))
        neutral_names(os.path.join(OUT, name))
        expected[name] = accumulate(os.path.join(OUT, name))

    # A file whose writer is mid-record: the last record cut short.
    path = small_run(os.path.join(OUT, "torn"))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 7)
    neutral_names(os.path.join(OUT, "torn"))
    expected["torn"] = accumulate(os.path.join(OUT, "torn"))

    # Damaged records in the middle: the reference is the undamaged file's points minus the
    # damaged event's (TensorBoard's loader stops at the damage; we skip it and go on).
    for which in ("data", "length"):
        name = f"corrupt-{which}"
        with tempfile.TemporaryDirectory() as tmp:
            small_run(tmp)
            whole = accumulate(tmp)
        path = small_run(os.path.join(OUT, name))
        damaged_index = 6  # record 0 is the file version; record 6 holds step 5
        damage(path, which, damaged_index)
        neutral_names(os.path.join(OUT, name))
        for series in whole["runs"].values():
            for tag in series:
                series[tag] = [p for p in series[tag] if p[0] != damaged_index - 1]
        whole["tensorboard_stops_at_damage"] = accumulate(os.path.join(OUT, name))["runs"]
        expected[name] = whole

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"tensorboard {tensorboard.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()

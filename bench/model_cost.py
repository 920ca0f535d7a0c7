"""Cost of every registry model per 5 s window at 32 kHz, printed as a Markdown table.

Columns
-------
params        trainable + frozen parameters.
GMAC          multiply-accumulates of matrix products and convolutions counted by
              ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs / 2), plus
              the FFTs, which it does not count, taken analytically as
              ``2.5 * n * log2(n)`` real FLOPs per real FFT of size n (half a
              complex FFT's ``5 n log2 n``), / 2 for MACs. Elementwise work
              (logs, ReLUs, statistics) is not in it; the ``other M`` column
              sums the elements each remaining operator reads or writes
              (whichever is larger), a proxy for that memory-bound work.
x WLC14       Wavegram-Logmel-CNN14's GMAC over the model's.
torch ms      CPU milliseconds per window in PyTorch, batch 16, 2 threads,
              after warm-up, best of ``--repeats`` timings (the machine is shared).
ORT ms        the same in ONNX Runtime (2 intra-op threads) on the file
              ``inference.export.export_onnx`` writes (dynamo exporter, opset 18,
              parity-checked); "-" where not run.
train win/s   windows per second of forward + backward + AdamW step on CPU,
              batch 8 (the classifiers with the prototype's freezing: all but
              the last block frozen; the attention models as their
              ``configs/<name>.yaml`` builds them, from random weights every
              layer trains).

Run: ``python bench/model_cost.py [--models fast cnn14 ...] [--onnx fast ...]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from audio_artifacts import __version__
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.models.registry import MODELS, build_model
from audio_artifacts.windows import WindowSpec

RATE = 32000
WINDOW = 5 * RATE
_MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "convolution", "_convolution", "matmul", "linear", "conv1d", "conv2d"}


class _ElementCounter(TorchDispatchMode):
    """Sums max(input elements, output elements) over operators FlopCounterMode ignores."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0
        self.ffts: list[tuple[int, int]] = []  # (transform size, number of transforms)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        if name.startswith("_fft_r2c"):
            x, dims = args[0], args[1]
            size = int(np.prod([x.shape[d] for d in dims]))
            self.ffts.append((size, x.numel() // size))
        elif name not in _MATMUL_OPS and not name.startswith(("view", "_unsafe_view", "t", "expand", "as_strided", "detach", "slice", "select", "unsqueeze", "squeeze", "transpose", "permute", "alias", "unfold", "reshape")):
            sizes = [a.numel() for a in args if isinstance(a, torch.Tensor)]
            outs = out if isinstance(out, (tuple, list)) else [out]
            sizes += [o.numel() for o in outs if isinstance(o, torch.Tensor)]
            self.elements += max(sizes, default=0)
        return out


def count_cost(model: torch.nn.Module) -> tuple[float, float, float]:
    """(GMAC from matmul/conv, GMAC from FFTs, M other elements) for one window."""
    x = torch.randn(1, WINDOW) * 0.01
    counter = FlopCounterMode(display=False)
    elements = _ElementCounter()
    with torch.no_grad(), counter, elements:
        model(x)
    fft_flops = sum(count * 2.5 * n * math.log2(n) for n, count in elements.ffts)
    return counter.get_total_flops() / 2e9, fft_flops / 2e9, elements.elements / 1e6


def time_torch(model: torch.nn.Module, batch: int, repeats: int) -> float:
    """Best ms per window over ``repeats`` timed batches (after two warm-up batches)."""
    x = torch.randn(batch, WINDOW) * 0.01
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        best = math.inf
        for _ in range(repeats):
            began = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - began)
    return 1000 * best / batch


def time_onnx(model: torch.nn.Module, name: str, batch: int, repeats: int) -> tuple[float, str]:
    """(ms per window in ONNX Runtime, parity note), exporting through ``inference.export``."""
    import onnxruntime as ort

    from audio_artifacts.inference.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        info = ModelInfo(name="bench", version="0", architecture=name, arguments=model.arguments(),
                         sample_rate=RATE, window=WindowSpec(), threshold=0.5, package_version=__version__)
        save_model_dir(Path(tmp) / "model", model, info)
        report = export_onnx(Path(tmp) / "model", Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(Path(tmp) / "model.onnx"), options, providers=["CPUExecutionProvider"])
        x = (np.random.default_rng(0).standard_normal((batch, WINDOW)) * 0.01).astype(np.float32)
        feed = {"waveform": x, "lengths": np.full(batch, WINDOW, dtype=np.int64)}  # whole windows
        for _ in range(2):
            session.run(None, feed)
        best = math.inf
        for _ in range(repeats):
            began = time.perf_counter()
            session.run(None, feed)
            best = min(best, time.perf_counter() - began)
    note = f"parity {report.max_abs_logit_diff:.1e}{'' if report.optimized else ', plain graph'}"
    return 1000 * best / batch, note


def train_speed(model: torch.nn.Module, batch: int, steps: int) -> float:
    """Windows per second of forward + backward + optimiser step."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(batch, WINDOW) * 0.01
    y = (torch.arange(batch) % 2).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        optimiser.zero_grad()
        loss_fn(model(x), y).backward()
        optimiser.step()

    step()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - began)


CONFIGURED = ("cnn14_att", "spectrogram_transformer", "wavegram_att")
"""Models measured as their ``configs/<name>.yaml`` builds them (what the time box trains)."""


def build(name: str) -> torch.nn.Module:
    if name in ("cnn14", "resnet54", "wavegram_logmel_cnn14"):
        return build_model(name, freeze_backbone=True, unfreeze_last=1)
    if name in CONFIGURED:
        from audio_artifacts.training.config import load_config

        config = Path(__file__).parents[1] / "configs" / f"{name}.yaml"
        return build_model(name, **load_config(config).model.arguments)
    if name == "fast":  # the configuration the package ships, not the class defaults
        from audio_artifacts.models.model_dir import default_model_dir, read_model_info

        return build_model(name, **read_model_info(default_model_dir()).arguments)
    return build_model(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--onnx", nargs="*", default=["fast"], help="models to export and time in ONNX Runtime")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here, one object per model")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    reference = None
    for name in args.models:
        model = build(name).eval()
        params = sum(p.numel() for p in model.parameters())
        matmul, fft, other = count_cost(model)
        total = matmul + fft
        if name == "wavegram_logmel_cnn14":
            reference = total
        torch_ms = time_torch(model, args.batch, args.repeats)
        onnx_ms, note = ("-", "")
        if name in args.onnx:
            ms, note = time_onnx(model, name, args.batch, args.repeats)
            onnx_ms = f"{ms:.2f}"
        speed = train_speed(build(name), args.train_batch, args.train_steps)
        rows.append((name, params, matmul, fft, total, other, torch_ms, onnx_ms, note, speed))
        print(f"# {name}: done", flush=True)

    print(f"\n5 s window at 32 kHz; {args.threads} threads; batch {args.batch}; "
          f"load average at the end {os.getloadavg()[0]:.1f} (shared machine)\n")
    print("| model | params | GMAC (matmul+conv) | GMAC (FFT) | GMAC total | x WLC14 | other M | "
          "torch ms/window | ORT ms/window | train windows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, params, matmul, fft, total, other, torch_ms, onnx_ms, note, speed in rows:
        ratio = f"{reference / total:.1f}x" if reference else "-"
        onnx_cell = f"{onnx_ms} ({note})" if note else onnx_ms
        print(f"| {name} | {params / 1e6:.3f} M | {matmul:.4f} | {fft:.4f} | {total:.4f} | {ratio} | "
              f"{other:.1f} | {torch_ms:.2f} | {onnx_cell} | {speed:.1f} |")
    if args.json is not None:
        keys = ("params", "gmac_matmul", "gmac_fft", "gmac", "other_m", "torch_ms", "onnx_ms", "onnx_note",
                "train_windows_per_s")
        data = {row[0]: dict(zip(keys, row[1:])) for row in rows}
        data["_machine"] = {"threads": args.threads, "batch": args.batch, "load_average": os.getloadavg()[0]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

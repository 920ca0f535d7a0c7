"""Fit the event type head on the simulator's labelled events and store it in a model directory.

    PYTHONPATH=src python scripts/fit_type_head.py MODEL_DIR \
        [--train data/sim/train.csv] [--val data/sim/val.csv] [--cache DIR] [--limit N]

Each training example is a span a perfect detector would flag in a training
recording (runs of artifact windows, ``explain.examples``), measured exactly
as the scanner measures a flagged event (``inference.describe.measure_span``);
its labels are the kinds of the simulator's events in it. The features are
cached (``--cache``, ``.npz``) so a refit costs seconds. Writes
``MODEL_DIR/type_head.json`` and prints per-type accuracy on the training and
validation spans. Deterministic: same data and seed, same head. The
detector's weights are not touched.

When the detector is a model with ``embedding()`` (the fast model), a second
head is fitted on the measured features plus the detector's own embedding of
the span's windows (``inference.describe.DetectorView``) and written as
``MODEL_DIR/type_head_detector.json``; the scanner uses it when it runs the
model in torch.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np


def _measuring() -> str:
    """What the cached features depend on besides the data: the measuring code's version and rate."""
    from audio_artifacts.explain.measure import MEASURE_VERSION
    from audio_artifacts.inference.describe import MAX_RATE

    return f"m{MEASURE_VERSION}-r{MAX_RATE}"


def collect(manifest: Path, cache: Path | None, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every labelled span of a manifest (cached in ``cache`` when given)."""
    from audio_artifacts.data.manifest import load_entries
    from audio_artifacts.explain.examples import labelled_spans
    from audio_artifacts.explain.measure import FEATURE_NAMES, features
    from audio_artifacts.inference.describe import measure_span

    cache_file = None
    if cache is not None:
        cache_file = cache / f"{manifest.stem}-{limit or 'all'}-{_measuring()}.npz"
        if cache_file.is_file():
            data = np.load(cache_file)
            if tuple(data["feature_names"]) == FEATURE_NAMES:
                return data["x"], data["y"]
    entries = [e for e in load_entries(manifest) if e.events]
    if limit:
        entries = entries[:limit]
    xs, ys = [], []
    began = time.monotonic()
    for number, span in enumerate(labelled_spans(entries), start=1):
        analysis = measure_span(span.entry.path, span.start, span.end, float(span.entry.columns["duration_s"]))
        xs.append(features(analysis))
        ys.append(span.label_vector())
        if number % 200 == 0:
            print(f"{manifest.name}: {number} spans measured, {time.monotonic() - began:.0f} s", file=sys.stderr)
    x, y = np.array(xs), np.array(ys)
    if cache_file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, x=x, y=y, feature_names=np.array(FEATURE_NAMES))
    return x, y


def detector_view(model_dir: Path):
    """The model directory's :class:`DetectorView`, or None when its model has no embedding."""
    from audio_artifacts.inference.backends import TorchBackend
    from audio_artifacts.inference.describe import DetectorView
    from audio_artifacts.models.model_dir import load_model_dir

    model, info = load_model_dir(model_dir)
    backend = TorchBackend(model)
    if backend.embedding_size is None:
        return None
    return DetectorView(backend.embedding, backend.embedding_size, info.sample_rate,
                        info.window.duration_s, info.window.overlap)


def collect_seen(manifest: Path, cache: Path | None, limit: int | None, view, tag: str) -> np.ndarray:
    """The detector's view of the same spans as :func:`collect`, in the same order (cached per model)."""
    from audio_artifacts.data.manifest import load_entries
    from audio_artifacts.explain.examples import labelled_spans

    cache_file = None if cache is None else cache / f"{manifest.stem}-{limit or 'all'}-{_measuring()}-detector-{tag}.npz"
    if cache_file is not None and cache_file.is_file():
        return np.load(cache_file)["x"]
    entries = [e for e in load_entries(manifest) if e.events]
    if limit:
        entries = entries[:limit]
    from audio_artifacts.inference.describe import read_span

    x = np.array([view.features(read_span(span.entry.path, span.start, span.end, float(span.entry.columns["duration_s"])))
                  for span in labelled_spans(entries)])
    if cache_file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, x=x)
    return x


def report(name: str, head, x: np.ndarray, y: np.ndarray) -> None:
    """Top-type accuracy (spans of one kind) and per-type F1 at p >= 0.5."""
    from audio_artifacts.results.schema import EVENT_TYPES

    p = head.probabilities(x)
    single = y.sum(axis=1) == 1
    accuracy = float(np.mean(np.argmax(p[single], axis=1) == np.argmax(y[single], axis=1)))
    print(f"{name}: {x.shape[0]} spans, {int(single.sum())} of one kind; top-type accuracy {accuracy:.3f}")
    predicted = (p >= 0.5) | (p == p.max(axis=1, keepdims=True))
    for j, kind in enumerate(EVENT_TYPES):
        tp = float(np.sum(predicted[:, j] & (y[:, j] == 1)))
        f1 = 2 * tp / max(1.0, predicted[:, j].sum() + y[:, j].sum())
        print(f"  {kind:<15} n={int(y[:, j].sum()):>4}  F1 {f1:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--train", type=Path, default=Path("data/sim/train.csv"))
    parser.add_argument("--val", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="folder for the measured features (.npz)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N recordings with events only (the bundled head: 1200 of 2400, to keep the fit cheap)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (0: logistic regression)")
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from audio_artifacts.explain.measure import FEATURE_NAMES
    from audio_artifacts.explain.type_head import fit_type_head
    from audio_artifacts.results.schema import EVENT_TYPES

    x, y = collect(args.train, args.cache, args.limit)
    head = fit_type_head(x, y, FEATURE_NAMES, EVENT_TYPES, hidden=args.hidden, l2=args.l2, seed=args.seed)
    report("train", head, x, y)
    if args.val is not None:
        report("val", head, *collect(args.val, args.cache, None))
    print(f"wrote {head.save(args.model_dir)}")

    view = detector_view(args.model_dir)
    if view is None:
        return 0
    from audio_artifacts.explain.type_head import DETECTOR_TYPE_HEAD_FILE
    from audio_artifacts.inference.describe import detector_feature_names

    tag = hashlib.sha256((args.model_dir / "model.safetensors").read_bytes()).hexdigest()[:12]
    names = (*FEATURE_NAMES, *detector_feature_names(view.size))
    xs = np.hstack([x, collect_seen(args.train, args.cache, args.limit, view, tag)])
    joint = fit_type_head(xs, y, names, EVENT_TYPES, hidden=args.hidden, l2=args.l2, seed=args.seed)
    report("train, with the detector's view", joint, xs, y)
    if args.val is not None:
        xv, yv = collect(args.val, args.cache, None)
        report("val, with the detector's view", joint,
               np.hstack([xv, collect_seen(args.val, args.cache, None, view, tag)]), yv)
    print(f"wrote {joint.save(args.model_dir, DETECTOR_TYPE_HEAD_FILE)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Event-onset error of model directories against the simulator's true events, as Markdown tables.

    PYTHONPATH=src python bench/onset_error.py MODEL_DIR [MODEL_DIR ...] --manifest data/sim/test_small.csv
        [--batch 16] [--limit N]

For every artifact recording of the manifest (its ``events`` column is the
simulator's truth) and every model directory:

* ``window`` line, every model: the scanner's `Detector` (``describe=False``)
  flags windows at the model's threshold; an event's onset is the start of
  the first flagged window overlapping ``[start - 1 s, end]`` (5 s windows
  as the reference);
* ``frames`` line, models with ``frame_probabilities`` (the attention
  models): the recording is cut by the scanner's windowing
  (``windows.iter_windows`` over ``audio.stream_audio`` at the model rate),
  each window's frame probabilities are placed at ``window start + (frame +
  0.5) * frame_hop_s``; a frame is "on" at the model's threshold (on the
  temperature-calibrated scale, as the window probability is); the onset is
  the first "on" frame time in ``[start - 1 s, end]`` (the frames of
  overlapping windows all count; padding frames of a short recording none).

Errors: ``|onset - event start|``; an event without one is missed
(``evaluation.onsets``). Printed per model and per artifact type (each
event's own type, the kinds the ``artifact_types`` column lists): events,
found share, median and 90th-percentile error in seconds, the decision hop.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audio_artifacts.data.manifest import RecordingEntry, load_entries
from audio_artifacts.errors import AudioLoadError
from audio_artifacts.evaluation.onsets import onset_errors, raw_threshold, summarize_onsets

if TYPE_CHECKING:
    from audio_artifacts.models.attention.base import FrameAttentionModel
    from audio_artifacts.models.model_dir import ModelInfo


def frame_decisions(model: FrameAttentionModel, info: ModelInfo, path: Path, batch: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Frame probabilities ``(n,)`` and their recording times ``(n,)`` in seconds, of one recording."""
    import torch

    from audio_artifacts.audio import AudioConfig, stream_audio
    from audio_artifacts.windows import iter_windows

    rate = info.sample_rate
    hop = float(model.frame_hop_s)
    probabilities: list[np.ndarray] = []
    times: list[np.ndarray] = []

    def run(windows: list) -> None:
        samples = torch.from_numpy(np.stack([w.samples for w in windows]))
        lengths = torch.tensor([w.valid for w in windows], dtype=torch.int64)
        with torch.no_grad():
            frames = model.frame_probabilities(samples, lengths).numpy().astype(np.float64)
        centres = (np.arange(frames.shape[1]) + 0.5) * hop
        for window, row in zip(windows, frames):
            # padding frames have probability 0 and a time past the real audio: drop them
            real = window.start_s + centres <= window.end_s
            probabilities.append(row[real])
            times.append(window.start_s + centres[real])

    pending: list = []
    for window in iter_windows(stream_audio(path, AudioConfig(sample_rate=rate)), info.window, rate):
        pending.append(window)
        if len(pending) == batch:
            run(pending)
            pending = []
    if pending:
        run(pending)
    return np.concatenate(probabilities), np.concatenate(times)


def event_intervals(entry: RecordingEntry) -> np.ndarray:
    """``(n_events, 2)`` true ``(start_s, end_s)`` of a recording."""
    return np.array([(e.start_s, e.end_s) for e in entry.events or ()], dtype=np.float64).reshape(-1, 2)


def model_errors(model_dir: Path, entries: list[RecordingEntry], batch: int
                 ) -> tuple[dict[str, dict[str, list[float]]], float, float | None, str]:
    """Onset errors per line (``window`` / ``frames``) and event type; window hop, frame hop (None: no frames), name."""
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.models.model_dir import load_model_dir

    detector = Detector(model_dir, describe=False, batch_size=batch)
    model, info = load_model_dir(model_dir)
    has_frames = callable(getattr(model, "frame_probabilities", None))
    frame_threshold = raw_threshold(info.threshold, info.temperature)
    errors: dict[str, dict[str, list[float]]] = {"window": defaultdict(list), "frames": defaultdict(list)}
    for entry in entries:
        events = event_intervals(entry)
        types = [e.type for e in entry.events or ()]
        try:
            scores = detector.window_scores(entry.path)
        except AudioLoadError as exc:  # e.g. shorter than the model judges: no decision to score
            print(f"# {info.name}: {entry.path} skipped ({exc.reason})")
            continue
        lines = {"window": onset_errors(scores.probabilities, scores.starts, events, detector.threshold,
                                        ends=scores.ends)}
        if has_frames:
            probabilities, times = frame_decisions(model, info, entry.path, batch)
            lines["frames"] = onset_errors(probabilities, times, events, frame_threshold)
        for line, values in lines.items():
            for kind, value in zip(types, values.tolist()):
                errors[line][kind].append(value)
    name = f"{info.name} ({info.architecture})"
    return errors, info.window.hop_s(), float(model.frame_hop_s) if has_frames else None, name


def table_rows(name: str, line: str, figures: dict) -> Iterable[str]:
    """Markdown rows of one :func:`summary`: all events, then each type."""
    for kind, f in figures.items():
        if kind == "hop_s":
            continue
        yield (f"| {name} | {line} | {kind} | {f['events']} | {f['found']:.2f} | {f['median_s']:.3f} | "
               f"{f['p90_s']:.3f} | {figures['hop_s']:g} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dirs", type=Path, nargs="+", help="model directories (folders with model.json)")
    parser.add_argument("--manifest", type=Path, required=True, help="extended CSV with the simulator's events")
    parser.add_argument("--batch", type=int, default=16, help="windows per model call")
    parser.add_argument("--limit", type=int, default=None, help="first N artifact recordings only")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the figures here: {model name: {window|frames: {hop_s, all, <type>: ...}}}")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be >= 1, got {args.batch}")

    entries = [e for e in load_entries(args.manifest) if e.events]
    if args.limit is not None:
        entries = entries[: args.limit]
    if not entries:
        parser.error(f"{args.manifest}: no recording with simulator events")
    print(f"# onset error on {len(entries)} artifact recordings of {args.manifest}; an \"on\" decision counts "
          f"from 1 s before an event's start to its end")
    print("| model | decisions | type | events | found | median s | p90 s | hop s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    figures: dict[str, dict[str, dict]] = {}
    for model_dir in args.model_dirs:
        errors, window_hop, hop_s, name = model_errors(model_dir, entries, args.batch)
        figures[name] = {"window": summary(window_hop, errors["window"])}
        if hop_s is not None:
            figures[name]["frames"] = summary(hop_s, errors["frames"])
        for line, figure in figures[name].items():
            for row in table_rows(name, line, figure):
                print(row)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


def summary(hop_s: float, by_type: dict[str, list[float]]) -> dict:
    """The figures of :func:`table_rows` as data: hop, then all events and each type."""
    out: dict = {"hop_s": hop_s}
    groups = [("all", [v for values in by_type.values() for v in values]), *sorted(by_type.items())]
    for kind, values in groups:
        s = summarize_onsets(values)
        out[kind] = {"events": s.events, "found": s.found, "median_s": s.median_s, "p90_s": s.p90_s}
    return out


if __name__ == "__main__":
    raise SystemExit(main())

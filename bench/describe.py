"""How well flagged events are described, against the simulator's truth, per artifact type.

Scans a labelled manifest (default: the foreign split, held-out device
families, speakers, engines and seeds) with the Detector -- detection, then
the description of every event, as ``scan`` does it -- and prints
``evaluation.description`` figures for events >= 6 dB over the floor: type
accuracy and F1, share of true lines found within max(1 %, 16 Hz), periods
within 5 %, onset / offset errors (and the same for the plain runs of flagged
windows, for comparison).

``--oracle`` describes the spans a perfect detector would flag instead
(``explain.examples``), to tell description errors from detection misses.
``--stimulus-aware`` gives every recording its stimulus (the manifest's
``stimulus_path``), as ``scan --stimulus`` does: events are then described
from the residual.

Usage::

    python bench/describe.py [--manifest data/sim/foreign.csv] [--model-dir DIR] [--oracle] [--stimulus-aware] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_MANIFEST = Path("/work/main/data/sim/foreign.csv")


def stimulus_of(entry, manifest: Path) -> Path | None:
    """The stimulus file a manifest row names (relative to the manifest's folder), if any."""
    name = entry.columns.get("stimulus_path")
    return None if not name else manifest.parent / name


def detected(manifest: Path, model_dir: Path | None, limit: int | None, stimulus_aware: bool = False):
    """(entry, described events, window runs) per recording, from the Detector."""
    from audio_artifacts.data.manifest import load_entries
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.results.schema import merge_events

    entries = load_entries(manifest)[:limit]
    detector = Detector(model_dir)
    stimuli = [stimulus_of(e, manifest) for e in entries] if stimulus_aware else None
    results = detector.scan_many([e.path for e in entries], stimuli=stimuli)
    for entry, result in zip(entries, results, strict=True):
        if result.ok:
            yield entry, result.events, merge_events(result.windows, result.threshold)


def oracle(manifest: Path, model_dir: Path | None, limit: int | None, stimulus_aware: bool = False):
    """(entry, described events, oracle spans) per recording with events."""
    from audio_artifacts.audio import AudioConfig, read_info
    from audio_artifacts.data.manifest import load_entries
    from audio_artifacts.explain.examples import entry_duration, oracle_spans
    from audio_artifacts.inference.describe import MAX_RATE, EventDescriber
    from audio_artifacts.inference.stimulus import residual_of_files
    from audio_artifacts.models.model_dir import default_model_dir
    from audio_artifacts.results.schema import Event

    describer = EventDescriber(model_dir or default_model_dir())
    for entry in load_entries(manifest)[:limit]:
        if not entry.events:
            continue
        duration = entry_duration(entry)
        spans = [Event(a, b, 1.0) for a, b in oracle_spans(entry, duration)]
        stimulus = stimulus_of(entry, manifest) if stimulus_aware else None
        if stimulus is not None:  # as Detector.describe_result: the residual, unless the stimulus is not used
            rate = min(read_info(entry.path).sample_rate, MAX_RATE)
            residual, fit = residual_of_files(entry.path, stimulus, AudioConfig(sample_rate=rate))
            if not (fit.silent or fit.warning):
                yield entry, describer.describe_residual_events(residual, rate, spans, str(entry.path)), spans
                continue
        yield entry, describer.describe_events(entry.path, spans, duration), spans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--model-dir", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--oracle", action="store_true", help="describe a perfect detector's spans")
    parser.add_argument("--stimulus-aware", action="store_true",
                        help="judge and describe against each row's stimulus_path")
    parser.add_argument("--limit", type=int, default=None, help="first N recordings only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from audio_artifacts.evaluation.description import (
        description_markdown,
        description_report,
    )

    began = time.monotonic()
    source = oracle if args.oracle else detected
    recordings = list(source(args.manifest, args.model_dir, args.limit, args.stimulus_aware))
    report = description_report(recordings)
    mode = "oracle spans (perfect detector)" if args.oracle else "Detector (detection + description)"
    mode += ", stimulus-aware (events from the residual)" if args.stimulus_aware else ", output-only"
    print(f"{args.manifest}: {mode}, {time.monotonic() - began:.0f} s on this machine\n")
    print(description_markdown(report))
    print("\nBy stimulus and level (overall figures of each group):\n")
    print("| group | single-kind events | type acc. | lines | found | periods | within 5 % |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    groups = {
        "quiet input, >= 6 dB": ([r for r in recordings if r[0].columns.get("stimulus") == "quiet"], 6.0),
        "any other stimulus, >= 6 dB": ([r for r in recordings if r[0].columns.get("stimulus") != "quiet"], 6.0),
        "all, >= 10 dB": (recordings, 10.0),
        "all, >= 20 dB": (recordings, 20.0),
    }
    for name, (chosen, level) in groups.items():
        g = description_report(chosen, min_level_db=level)
        cell = lambda v: "-" if v is None else f"{v:.3f}"
        print(f"| {name} | {g['single_kind_events']} | {cell(g['type_accuracy'])} | {g['lines']} | "
              f"{cell(g['lines_found'])} | {g['periods']} | {cell(g['periods_within_5pct'])} |")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

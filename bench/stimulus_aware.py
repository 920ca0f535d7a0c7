"""Output-only vs stimulus-aware scanning on a simulated split, per stimulus kind.

    python bench/stimulus_aware.py data/sim/foreign.csv [--kinds tones multitone sweep speech music]
        [--model DIR] [--limit N]

Reads the simulator's manifest (``stimulus_path`` column: what the test system
played), scans every recording of the chosen kinds (and the quiet ones, the
reference) with the bundled detector twice: on the recording alone and on the
residual the stimulus leaves (`inference.stimulus`). Prints per kind the
false-positive rate on clean recordings and the recall on artifact
recordings, both ways, and recall per artifact level band over the floor
next to the quiet input's recall in the same band.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

LEVEL_BANDS = ((0.0, 10.0), (10.0, 20.0), (20.0, 99.0))


def _band(level: float) -> str:
    for low, high in LEVEL_BANDS:
        if low <= level < high:
            return f"{low:g}-{high:g} dB" if high < 99 else f">= {low:g} dB"
    return "< 0 dB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--kinds", nargs="+", default=["tones", "multitone", "sweep", "speech", "music"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None, help="at most N recordings per kind and class")
    args = parser.parse_args()

    from audio_artifacts.data.manifest import read_manifest
    from audio_artifacts.inference.detector import Detector

    root = Path(args.manifest).resolve().parent
    entries = read_manifest(args.manifest)
    kinds = list(args.kinds) + ["quiet"]
    chosen, seen = [], defaultdict(int)
    for e in entries:
        kind = e.columns.get("stimulus")
        if kind not in kinds:
            continue
        if args.limit is not None and seen[(kind, e.label)] >= args.limit:
            continue
        seen[(kind, e.label)] += 1
        chosen.append(e)
    detector = Detector(args.model)
    paths = [e.path for e in chosen]
    stimuli = [root / e.columns["stimulus_path"] if e.columns.get("stimulus_path") else None for e in chosen]
    t0 = time.perf_counter()
    plain = [detector.window_scores(p).probabilities for p in paths]
    t1 = time.perf_counter()
    scored = [detector.window_scores(p, s) for p, s in zip(paths, stimuli)]
    t2 = time.perf_counter()
    aware = [s.probabilities for s in scored]
    # The residual alone (the same windows), for the comparison of the two rules.
    alone = [s.probabilities if s.residual_probabilities is None else s.residual_probabilities for s in scored]
    refs = [s.stimulus for s in scored]
    print(f"{len(chosen)} recordings of {args.manifest}; threshold {detector.threshold:.4f}; "
          f"output-only {t1 - t0:.0f} s, stimulus-aware {t2 - t1:.0f} s (same machine, one run, file by file)")
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    bands: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    warnings = defaultdict(int)
    threshold = detector.threshold
    for e, a, b, c, ref in zip(chosen, plain, aware, alone, refs):
        kind = e.columns["stimulus"]
        if ref is not None and ref.warning:
            warnings[kind] += 1
        group = "clean" if e.label == 0 else "artifact"
        for mode, r in (("out", a), ("aware", b), ("residual", c)):
            cell = table[kind][f"{group}-{mode}"]
            cell[0] += bool(r.max() >= threshold)
            cell[1] += 1
        if e.label:
            level = max(ev.level_db for ev in e.events)
            cell = bands[kind][_band(level)]
            cell[0] += bool(a.max() >= threshold)
            cell[1] += bool(b.max() >= threshold)
            cell[2] += 1

    def frac(c: list[int]) -> str:
        return f"{c[0] / c[1]:.3f} ({c[0]}/{c[1]})" if c[1] else "-"

    print("\nStimulus-aware = the default rule (recording and residual both flag a window); "
          "residual alone for comparison.\n")
    print("| stimulus | FPR output-only | FPR stimulus-aware | FPR residual alone | recall output-only | "
          "recall stimulus-aware | recall residual alone | rows warned (no match) |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        t = table[kind]
        print(f"| {kind} | {frac(t['clean-out'])} | {frac(t['clean-aware'])} | {frac(t['clean-residual'])} | "
              f"{frac(t['artifact-out'])} | {frac(t['artifact-aware'])} | {frac(t['artifact-residual'])} | "
              f"{warnings[kind]} |")
    names = [_band(low) for low, _ in LEVEL_BANDS]
    print("\nRecall per artifact level over the floor (output-only / stimulus-aware; quiet input: output-only):\n")
    print("| stimulus | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind in kinds:
        cells = []
        for name in names:
            c = bands[kind][name]
            cells.append(f"{c[0]}/{c[2]} / {c[1]}/{c[2]}" if c[2] else "-")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("\n" + json.dumps({k: {g: v for g, v in t.items()} for k, t in table.items()}))


if __name__ == "__main__":
    main()

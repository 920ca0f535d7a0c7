"""Write the residual of every recording that has a stimulus: training data for stimulus-aware detection.

    PYTHONPATH=src python scripts/make_residuals.py data/sim/train.csv data/residuals [--workers 2]

For each row of the manifest with a ``stimulus_path`` (the simulator writes
what the test system played next to every recording), the residual is what
``scan --stimulus`` judges: ``inference.stimulus.explain_recording`` at the
model rate (32 kHz, the mean of the channels). It is written as a float WAV
under ``OUT`` at the recording's relative path and listed in ``OUT/<manifest name>.csv`` with the
recording's labels and events (an artifact is independent of the input, so
it stays in the residual where the recording has it) and without a stimulus.
Rows without a stimulus, or whose stimulus the scanner would not use (silent,
or not matching), are left out: the scanner judges those on the recording.

A residual already on disk is kept, so an interrupted run picks up where it
stopped. Deterministic: same recording and stimulus, same residual.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

SAMPLE_RATE = 32000  # the model rate of every bundled detector


def _residual(job: tuple[str, str, str]) -> tuple[str, str | None]:
    """Write one residual; ``(output path, None)`` or ``(output path, why it was left out)``."""
    from audio_artifacts.audio import AudioConfig, write_audio
    from audio_artifacts.errors import AudioLoadError
    from audio_artifacts.inference.stimulus import residual_of_files

    recording, stimulus, out = job
    marker = Path(out + ".skip")
    if Path(out).is_file():
        return out, None
    if marker.is_file():
        return out, marker.read_text()
    try:
        residual, fit = residual_of_files(recording, stimulus, AudioConfig(sample_rate=SAMPLE_RATE))
    except AudioLoadError as exc:
        return out, str(exc)
    if fit.silent or fit.warning:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(fit.warning or "silent stimulus")
        return out, marker.read_text()
    write_audio(out + ".part.wav", residual, SAMPLE_RATE, subtype="FLOAT")
    Path(out + ".part.wav").replace(out)
    return out, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="a simulator manifest with a stimulus_path column")
    parser.add_argument("out", type=Path, help="output folder (audio/ and the manifest go here)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)

    from dataclasses import replace

    from audio_artifacts.data.manifest import load_entries, write_manifest

    entries = load_entries(args.manifest)
    root = args.manifest.resolve().parent
    jobs, kept = [], []
    for entry in entries:
        stimulus = entry.columns.get("stimulus_path", "")
        if not stimulus:
            continue
        relative = Path(entry.path).resolve().relative_to(root)
        out = (args.out / relative).with_suffix(".wav")
        jobs.append((str(entry.path), str(root / stimulus), str(out)))
        kept.append((entry, out))
    began = time.monotonic()
    left_out: dict[str, str] = {}
    with Pool(max(1, args.workers)) as pool:
        for number, (out, why) in enumerate(pool.imap_unordered(_residual, jobs, chunksize=4), start=1):
            if why is not None:
                left_out[out] = why
            if number % 200 == 0 or number == len(jobs):
                print(f"{number}/{len(jobs)} residuals, {time.monotonic() - began:.0f} s", file=sys.stderr)
    rows = []
    for entry, out in kept:
        if str(out) in left_out:
            continue
        columns = dict(entry.columns, stimulus_path="", stimulus_offset_s="", residual_of=str(entry.path.name))
        rows.append(replace(entry, path=out.resolve(), columns=columns))
    manifest = write_manifest(args.out / args.manifest.name, rows, args.out)
    print(f"{manifest}: {len(rows)} residuals of {len(entries)} recordings "
          f"({len(left_out)} left out: silent, not matching or unreadable stimulus), "
          f"{time.monotonic() - began:.0f} s")
    for out, why in sorted(left_out.items())[:10]:
        print(f"  left out {out}: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

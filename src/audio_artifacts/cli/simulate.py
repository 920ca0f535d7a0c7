"""``audio-artifacts simulate``: write simulated, labelled hearing-aid test recordings."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``simulate``."""
    parser.add_argument("out", metavar="OUT", help="output folder (audio/<split>/*.wav and manifest CSVs)")
    parser.add_argument("--n", type=int, required=True,
                        help="number of recordings in train+val+test (or all); --foreign comes on top")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (same seed, same files)")
    parser.add_argument("--split", action="store_true",
                        help="write train/val/test (80/10/10 %%, disjoint devices and seeds)")
    parser.add_argument("--duration", type=float, nargs=2, metavar=("MIN", "MAX"), default=(6.0, 20.0),
                        help="length range of the other (not short) recordings in seconds (default 6 20)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--artifact-fraction", type=float, default=0.5,
                        help="share of recordings with artifacts (default 0.5)")
    parser.add_argument("--foreign", type=int, default=0, metavar="N",
                        help="also write N recordings to foreign.csv: held-out device families and the "
                             "stimulus bank's foreign groups, own seeds (default 0)")
    parser.add_argument("--stimuli", metavar="DIR", default=None,
                        help="stimulus bank folder (index.csv + clips): adds recorded speech, synthetic "
                             "speech, ISTS, music and everyday sounds to the synthetic stimuli")
    parser.add_argument("--short-fraction", type=float, default=0.25,
                        help="share of short recordings (default 0.25)")
    parser.add_argument("--short-duration", type=float, nargs=2, metavar=("MIN", "MAX"), default=(0.5, 5.0),
                        help="length range of the short recordings in seconds (default 0.5 5)")
    parser.add_argument("--only", nargs="+", metavar="SPLIT", default=None,
                        help="write only these splits (e.g. --only foreign); their recordings are those "
                             "of the full dataset")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Simulate the dataset; prints one summary line per split and the speed."""
    from audio_artifacts.errors import BankError
    from audio_artifacts.simulate.dataset import write_dataset
    from audio_artifacts.simulate.recording import SimulatorConfig, open_bank

    try:
        config = SimulatorConfig(duration_s=(args.duration[0], args.duration[1]),
                                 artifact_fraction=args.artifact_fraction, short_fraction=args.short_fraction,
                                 short_duration_s=(args.short_duration[0], args.short_duration[1]),
                                 bank_dir=args.stimuli)
        if args.n < 1 or args.workers < 1 or args.seed < 0 or args.foreign < 0:
            raise ValueError("--n and --workers must be >= 1, --seed and --foreign >= 0")
        if args.stimuli:
            open_bank(config.bank_dir)  # a bad bank fails here, before any worker starts
    except (ValueError, BankError) as exc:
        print(f"audio-artifacts simulate: error: {exc}", file=sys.stderr)
        return 2
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        from audio_artifacts.simulate.dataset import split_counts

        try:
            counts = split_counts(args.n, args.split, args.foreign)
        except ValueError:
            counts = {}
        total = sum(c for k, c in counts.items() if args.only is None or k in args.only)
        bar = tqdm(total=total, unit="rec", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    try:
        summary = write_dataset(args.out, args.n, args.seed, config, split=args.split, foreign=args.foreign,
                                workers=args.workers, progress=progress,
                                only=None if args.only is None else tuple(args.only))
    except (ValueError, BankError) as exc:
        print(f"audio-artifacts simulate: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    for name, path in summary.manifests.items():
        print(f"{name}: {summary.counts[name]} recordings ({summary.artifact_counts[name]} with artifacts) -> {path}")
    print(f"{sum(summary.counts.values())} recordings, {summary.audio_seconds / 60:.1f} min of audio in "
          f"{summary.wall_seconds:.1f} s ({summary.recordings_per_second:.1f} recordings/s, {args.workers} workers)")
    return 0

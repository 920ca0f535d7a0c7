"""Balanced, deterministic subsets of a simulated data set's manifests, for time-boxed runs.

``python bench/subset_manifest.py data/sim train:240 val:40 test:60 foreign:60`` writes
``data/sim/train_small.csv`` ... next to the originals (so their relative audio
paths stay valid): artifact and clean recordings alternating, in manifest order,
``n`` in all. A split whose manifest is missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def balanced_subset(manifest: Path, n: int, out: Path) -> int:
    """Write the first ``n`` rows of ``manifest`` alternating artifact / clean to ``out``; rows written."""
    with manifest.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, body = rows[0], rows[1:]
    column = header.index("class")
    positives = [r for r in body if r[column] == "artifact"]
    negatives = [r for r in body if r[column] != "artifact"]
    picked = [row for pair in zip(positives, negatives) for row in pair][:n]
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows(picked)
    return len(picked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="folder holding train.csv, val.csv, test.csv [, foreign.csv]")
    parser.add_argument("splits", nargs="+", help="SPLIT:N, e.g. train:240")
    args = parser.parse_args(argv)
    for item in args.splits:
        split, _, count = item.partition(":")
        manifest = args.data / f"{split}.csv"
        if not manifest.is_file():
            print(f"# {manifest}: not found, skipped")
            continue
        written = balanced_subset(manifest, int(count), args.data / f"{split}_small.csv")
        print(f"# {args.data / f'{split}_small.csv'}: {written} recordings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Cut the test fixture bank (tests/fixtures/bank) from a built stimulus bank.

    python scripts/make_bank_fixture.py data/stimulus_bank tests/fixtures/bank

Eight clips of 5 s, mono 16 kHz FLAC, chosen by the rules in ``PICKS`` (the
first matching clip of the bank's index, in path order), so the fixture has
every kind in ``train`` and speech and music in ``foreign``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from audio_artifacts.audio import AudioConfig, load_audio, write_audio
from audio_artifacts.simulate.bank import DELIMITER, INDEX_COLUMNS, INDEX_NAME

RATE = 16000
SECONDS = 5.0
PICKS = (  # name, required column values
    ("speech_allison", {"kind": "speech", "engine": "asterisk", "group": "asterisk:Allison", "split_group": "train"}),
    ("speech_june", {"kind": "speech", "engine": "asterisk", "split_group": "foreign"}),
    ("synth_flite_slt", {"kind": "speech_synth", "engine": "flite", "group": "flite:slt"}),
    ("synth_festival_ked", {"kind": "speech_synth", "engine": "festival", "group": "festival:ked_diphone"}),
    ("music_fluidr3", {"kind": "music", "engine": "fluidsynth", "soundfont": "FluidR3_GM", "split_group": "train",
                       "instrument": "strings+percussion"}),
    ("music_musescore", {"kind": "music", "engine": "fluidsynth", "soundfont": "MuseScore_General",
                         "split_group": "foreign"}),
    ("produced_opsound", {"kind": "music", "engine": "produced", "source": "asterisk-moh-opsound-g722"}),
    ("everyday_neverball", {"kind": "everyday", "source": "neverball-data"}),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bank", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    with open(args.bank / INDEX_NAME, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=DELIMITER))
    picked = []
    for name, wanted in PICKS:
        row = next((r for r in rows if all(r[k] == v for k, v in wanted.items())
                    and float(r["duration_s"]) >= SECONDS + 1.0), None)
        if row is None:
            print(f"no clip in {args.bank} matches {wanted}", file=sys.stderr)
            return 1
        x = load_audio(args.bank / row["path"], AudioConfig(sample_rate=RATE)).astype(np.float64)
        x = x[int(0.5 * RATE): int((0.5 + SECONDS) * RATE)]
        relative = f"{row['kind']}/{name}.flac"
        write_audio(args.out / relative, x * (0.89 / np.max(np.abs(x))), RATE, subtype="PCM_16")
        picked.append({**row, "path": relative, "duration_s": f"{x.size / RATE:.3f}", "sample_rate": str(RATE)})
    with open(args.out / INDEX_NAME, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS, delimiter=DELIMITER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(picked)
    print(f"{len(picked)} clips in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

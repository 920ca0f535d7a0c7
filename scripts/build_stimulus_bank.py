#!/usr/bin/env python
"""Build the stimulus bank: real speech, synthetic voices, rendered and produced
music and everyday sounds from Debian / PyPI packages, as mono FLAC clips plus
``index.csv`` (read by ``audio_artifacts.simulate.bank.StimulusBank``).

    python scripts/build_stimulus_bank.py [OUT] [--workers 2]
    # or scripts/build_stimulus_bank.sh, which installs the packages first

Every *unit* (a speaker, a synthetic voice, a piece with its soundfont, a
track, a package's sound effects) is built into its own folder with a
``unit.json`` holding its index rows and a fingerprint of its inputs; a rerun
skips units whose fingerprint matches. Every random choice comes from a seed
derived from the unit's name, so the bank does not depend on the number of
workers. Package versions go into ``OUT/BUILD.json``.

The split groups follow the foreign-split rule of docs/simulator.md: whole
sources are held out (``FOREIGN_*`` below), ``val`` holds other whole groups.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bank_texts import SENTENCES  # noqa: E402

from audio_artifacts.audio import AudioConfig, load_audio, read_info, write_audio  # noqa: E402
from audio_artifacts.simulate.bank import DELIMITER, INDEX_COLUMNS, INDEX_NAME  # noqa: E402

BUILD_VERSION = 2  # bump to rebuild every unit (when a builder changes)
SEED = 20261202
MUSIC_RATE = 32000  # rendered, produced and everyday audio (content to 16 kHz)
MAX_CLIP_S = 30.0
MIN_CLIP_S = 2.0

DEBIAN_PACKAGES = (
    "asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722", "asterisk-core-sounds-fr-g722",
    "asterisk-core-sounds-it-g722", "asterisk-core-sounds-ru-g722", "asterisk-moh-opsound-g722",
    "flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts", "festvox-italp16k",
    "festvox-ca-ona-hts", "festvox-suopuhe-lj", "espeak-ng", "fluidsynth", "timgm6mb-soundfont",
    "musescore-general-soundfont", "fluid-soundfont-gm", "sound-theme-freedesktop", "frozen-bubble-data",
    "neverball-data", "chromium-bsu-data", "pingus-data", "deepin-sound-theme", "yaru-theme-sound", "gnome-audio",
)
PYPI_PACKAGES = ("music21", "pyfluidsynth", "g722", "soxr", "soundfile", "numpy")

# -- recorded speech: Asterisk prompts (G.722, 16 kHz), one folder per speaker and language
ASTERISK = "/usr/share/asterisk/sounds"
RECORDED_SPEAKERS = (  # folder, speaker (the group), language, split group, prompts used (None = all)
    ("en_US_f_Allison", "Allison", "en-US", "train", None),
    ("es_MX_f_Allison", "Allison", "es-MX", "train", None),
    ("it_IT_m_Carlo", "Carlo", "it-IT", "train", None),
    ("ru_RU_f_IvrvoiceRU", "IvrvoiceRU", "ru-RU", "val", 240),
    ("fr_CA_f_June", "June", "fr-CA", "foreign", 480),
)
ASTERISK_LICENCE = "CC-BY-SA-3.0"

# -- synthetic voices: (engine, voice, language, split group)
FLITE_VOICES = (("kal16", "en", "train"), ("awb", "en", "train"), ("slt", "en", "train"), ("rms", "en", "val"))
ESPEAK_VOICES = (
    ("en-us", "en", "train"), ("en-us+f3", "en", "train"), ("en-gb-x-rp+m2", "en", "train"),
    ("en-gb-scotland+f2", "en", "train"), ("fr", "fr", "train"), ("fr+f4", "fr", "train"), ("de", "de", "train"),
    ("de+m4", "de", "train"), ("es", "es", "train"), ("it+f2", "it", "train"), ("pt-br", "pt", "train"),
    ("nl", "nl", "train"), ("cs", "cs", "train"), ("fi+m3", "fi", "train"), ("sv", "sv", "val"),
    ("pl+f3", "pl", "val"),
)
# A whole engine is foreign: festival with every voice installed.
FESTIVAL_VOICES = (
    ("kal_diphone", "en", "festvox-kallpc16k"), ("ked_diphone", "en", "festvox-kdlpc16k"),
    ("cmu_us_slt_arctic_hts", "en", "festvox-us-slt-hts"), ("lp_diphone", "it", "festvox-italp16k"),
    ("upc_ca_ona_hts", "ca", "festvox-ca-ona-hts"), ("suo_fi_lj_diphone", "fi", "festvox-suopuhe-lj"),
)
VOICE_LICENCES = {
    "flite": "flite (BSD-style, CMU)", "espeak-ng": "GPL-3.0+",
    "festvox-kallpc16k": "festvox (MIT-style)", "festvox-kdlpc16k": "festvox (MIT-style)",
    "festvox-us-slt-hts": "BSD-3-clause / EST", "festvox-italp16k": "GPL-2.0+",
    "festvox-ca-ona-hts": "LGPL-2.1+ / festvox", "festvox-suopuhe-lj": "LGPL-2.1+",
}
SYNTH_CLIPS = {"flite": 16, "espeak-ng": 10, "festival": 10}  # clips per voice

# -- music from scores: music21 corpus paths (public-domain compositions), GM soundfonts
SOUNDFONTS = {  # name -> (file, package, licence)
    "FluidR3_GM": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm", "MIT"),
    "TimGM6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont", "GPL-2.0"),
    "MuseScore_General": ("/usr/share/sounds/sf3/MuseScore_General_Full.sf3", "musescore-general-soundfont", "MIT"),
}
TRAIN_SOUNDFONTS = ("FluidR3_GM", "TimGM6mb")
FOREIGN_SOUNDFONT = "MuseScore_General"  # a whole soundfont, with its own pieces
COMPOSERS = (("bach", 64), ("palestrina", 14), ("monteverdi", 14), ("trecento", 8), ("mozart", 6),
             ("beethoven", 6), ("haydn", 4), ("josquin", 4), ("joplin", 1))
MUSIC_SECONDS = 45.0  # rendered per piece (the start of the score)
ENSEMBLES: dict[str, tuple[int, ...]] = {  # GM programs (0-based), highest part first
    "piano": (0,), "bright_piano": (1,), "electric_piano": (4,), "harpsichord": (6,), "organ": (19,),
    "drawbar_organ": (16,), "accordion": (21,), "strings": (40, 40, 41, 42), "string_ensemble": (48, 49),
    "choir": (52, 53), "voice_pad": (54, 91, 52), "brass": (56, 60, 57, 58), "woodwinds": (73, 68, 71, 70),
    "saxophones": (64, 65, 66, 67), "guitars": (24, 25, 24, 32), "harp_and_bass": (46, 46, 32, 33),
    "mallets": (11, 12, 13, 12), "synth_pads": (88, 89, 90, 91), "mixed": (),
}
DRUM_PROBABILITY = 0.3

# -- produced music and everyday sounds shipped in Debian games / themes
PRODUCED_TRACKS = (  # package, file, split group, licence
    *[("asterisk-moh-opsound-g722", f"/usr/share/asterisk/moh/{name}.g722", "train", "CC-BY-SA-3.0")
      for name in ("macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity",
                   "manolo_camp-morning_coffee", "reno_project-system")],
    *[("neverball-data", f"/usr/share/games/neverball/bgm/{name}.ogg", split, "GPL-2.0+")
      for name, split in (("title", "train"), ("track1", "train"), ("track2", "train"), ("track4", "train"),
                          ("track5", "train"), ("track6", "train"), ("track3", "val"), ("inter", "val"))],
    *[("chromium-bsu-data", f"/usr/share/games/chromium-bsu/wav/{name}.wav", "val", "Clarified-Artistic")
      for name in ("music_game", "music_menu")],
    *[("frozen-bubble-data", f"/usr/share/games/frozen-bubble/snd/{name}.ogg", "foreign", "GPL-2.0")
      for name in ("frozen-mainzik-1p", "frozen-mainzik-2p", "introzik")],
)
PRODUCED_SEGMENT_S = 20.0
EVERYDAY_PACKAGES = (  # package, file patterns, split group, licence (the package is the group)
    ("neverball-data", ("/usr/share/games/neverball/snd/*.ogg", "/usr/share/games/neverball/snd/gd/*.ogg"),
     "train", "GPL-2.0+"),
    ("frozen-bubble-data", ("/usr/share/games/frozen-bubble/snd/*.ogg",), "train", "GPL-2.0"),
    ("pingus-data", ("/usr/share/games/pingus/data/sounds/*.wav",), "train", "GPL-2.0+"),
    ("deepin-sound-theme", ("/usr/share/sounds/deepin/stereo/*.wav", "/usr/share/sounds/deepin/stereo/*.ogg"),
     "train", "GPL-3.0+"),
    ("gnome-audio", ("/usr/share/sounds/*.wav", "/usr/share/sounds/gtk-events/*.wav", "/usr/share/sounds/panel/*.wav"),
     "train", "CC-BY-SA-2.0 / CC-BY-3.0"),
    ("chromium-bsu-data", ("/usr/share/games/chromium-bsu/wav/*.wav",), "val", "Clarified-Artistic"),
    ("sound-theme-freedesktop", ("/usr/share/sounds/freedesktop/stereo/*.oga",), "foreign",
     "CC-BY-SA-3.0 / GPL-2.0+"),
    ("yaru-theme-sound", ("/usr/share/sounds/Yaru/stereo/*.oga", "/usr/share/sounds/Yaru/stereo/*.ogg"),
     "foreign", "CC-BY-SA-4.0"),
)
EVERYDAY_SKIP = ("zik", "music_")  # music files inside those folders


@dataclass(frozen=True)
class Unit:
    """One building job; its rows share ``group`` and ``split_group``."""

    name: str  # folder under OUT, unique
    kind: str
    builder: str
    split_group: str
    params: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        # The row metadata is part of it: a changed licence or group rewrites the unit's rows.
        text = json.dumps([BUILD_VERSION, SEED, asdict(self), common_fields(self)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(zlib.crc32(self.name.encode()),)))


# ---------------------------------------------------------------- signal helpers
def _frame_power(x: np.ndarray, rate: int, frame_s: float = 0.02) -> tuple[np.ndarray, int]:
    block = max(1, int(frame_s * rate))
    count = max(1, x.size // block)
    return np.mean(np.resize(x, count * block).reshape(count, block) ** 2, axis=1), block


def trim_silence(x: np.ndarray, rate: int, below_db: float = 45.0) -> np.ndarray:
    """Cut leading and trailing frames more than ``below_db`` under the loudest."""
    power, block = _frame_power(x, rate)
    if power.max() <= 0:
        return x[:0]
    loud = np.flatnonzero(power >= power.max() * 10 ** (-below_db / 10))
    return x[loud[0] * block: (loud[-1] + 1) * block]


def near_silent(x: np.ndarray, rate: int) -> bool:
    """Too quiet, or too little of it within 30 dB of its loudest 50 ms (gaps only)."""
    if x.size == 0 or np.max(np.abs(x)) < 1e-3:
        return True
    power, _ = _frame_power(x, rate, 0.05)
    return float(np.mean(power >= power.max() * 1e-3)) < 0.2


def join(pieces: list[np.ndarray], rng: np.random.Generator, rate: int, gap_s: tuple[float, float]) -> np.ndarray:
    out: list[np.ndarray] = []
    for i, piece in enumerate(pieces):
        if i:
            out.append(np.zeros(int(rng.uniform(*gap_s) * rate)))
        out.append(piece)
    return np.concatenate(out) if out else np.zeros(0)


def segments(x: np.ndarray, rate: int, length_s: float) -> list[np.ndarray]:
    """Consecutive cuts of ``length_s``; a last piece under MIN_CLIP_S * 2 joins the one before."""
    n = int(length_s * rate)
    cuts = [x[i: i + n] for i in range(0, x.size, n)]
    if len(cuts) > 1 and cuts[-1].size < 2 * MIN_CLIP_S * rate and cuts[-2].size + cuts[-1].size <= MAX_CLIP_S * rate:
        cuts[-2:] = [np.concatenate(cuts[-2:])]
    return cuts


def load_native(path: str | Path) -> tuple[np.ndarray, int]:
    rate = read_info(path).sample_rate
    return load_audio(path, AudioConfig(sample_rate=rate)).astype(np.float64), rate


def decode_g722(path: str | Path) -> np.ndarray:
    """Asterisk's headerless G.722 (libsndfile cannot read it), 16 kHz float."""
    import G722

    data = Path(path).read_bytes()
    return np.asarray(G722.G722(16000, 64000).decode(data), dtype=np.float64) / 32768.0


# ---------------------------------------------------------------- builders (each returns rows)
class UnitWriter:
    def __init__(self, out: Path, unit: Unit, common: dict[str, Any]) -> None:
        self.out, self.unit, self.common, self.rows = out, unit, common, []

    def add(self, x: np.ndarray, rate: int, **fields_: Any) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.size < MIN_CLIP_S * rate or near_silent(x, rate):
            return
        x = x[: int(MAX_CLIP_S * rate)]
        x = x - x.mean()
        x = x * (0.89 / max(np.max(np.abs(x)), 1e-9))  # -1 dBFS: levels are set at render time
        relative = f"{self.unit.kind}/{self.unit.name}/{len(self.rows):03d}.flac"
        write_audio(self.out / relative, x, rate, subtype="PCM_16")
        row = {**self.common, **fields_, "path": relative, "kind": self.unit.kind,
               "duration_s": f"{x.size / rate:.3f}", "sample_rate": rate, "split_group": self.unit.split_group}
        self.rows.append({column: row.get(column, "") for column in INDEX_COLUMNS})


def build_recorded(writer: UnitWriter, rng: np.random.Generator) -> None:
    p = writer.unit.params
    prompts = sorted(Path(ASTERISK, p["folder"]).glob("*.g722"))
    prompts = [prompts[i] for i in rng.permutation(len(prompts))][: p["limit"] or None]
    pending: list[np.ndarray] = []
    target = rng.uniform(6.0, 15.0)
    for prompt in prompts:
        speech = trim_silence(decode_g722(prompt), 16000)
        if speech.size < 0.2 * 16000:
            continue
        pending.append(speech)
        if sum(s.size for s in pending) / 16000 >= target:
            writer.add(join(pending, rng, 16000, (0.25, 0.7)), 16000)
            pending, target = [], rng.uniform(6.0, 15.0)
    if pending:
        writer.add(join(pending, rng, 16000, (0.25, 0.7)), 16000)


def _synthesise(engine: str, voice: str, texts: list[str], folder: Path) -> list[Path]:
    paths = [folder / f"{i:03d}.wav" for i in range(len(texts))]
    if engine == "flite":
        for text, path in zip(texts, paths):
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    elif engine == "espeak-ng":
        for text, path in zip(texts, paths):
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    else:  # festival: one process per voice, Latin-1 input as its lexicons expect
        script = [f"(voice_{voice})"] + [
            f'(utt.save.wave (SynthText "{text.replace(chr(34), "")}") "{path}")' for text, path in zip(texts, paths)]
        scheme = folder / "job.scm"
        scheme.write_bytes("\n".join(script).encode("latin-1", errors="replace"))
        subprocess.run(["festival", "-b", str(scheme)], check=True, capture_output=True)
    return paths


def build_synth(writer: UnitWriter, rng: np.random.Generator) -> None:
    p = writer.unit.params
    texts = list(SENTENCES[p["language"]])
    with tempfile.TemporaryDirectory() as tmp:
        sentences = []
        for path in _synthesise(p["engine"], p["voice"], texts, Path(tmp)):
            x, rate = load_native(path)
            sentences.append(trim_silence(x, rate))
    for _ in range(p["clips"]):
        chosen = rng.choice(len(sentences), size=min(len(sentences), int(rng.integers(2, 5))), replace=False)
        writer.add(join([sentences[i] for i in chosen], rng, rate, (0.3, 0.8)), rate)


_SOUNDFONT_HOLDERS: dict[str, Any] = {}


def _synth(soundfont: str) -> tuple[Any, int]:
    """A fresh fluidsynth instance with ``soundfont`` loaded.

    Fresh per piece, so a piece renders the same whatever the worker rendered
    before (a reused synth keeps chorus / reverb state). One holder instance
    per soundfont and process stays alive: fluidsynth then shares the loaded
    samples, and loading MuseScore's soundfont again takes 0.3 s, not 15 s.
    """
    import fluidsynth

    if soundfont not in _SOUNDFONT_HOLDERS:
        holder = fluidsynth.Synth(samplerate=float(MUSIC_RATE))
        holder.sfload(SOUNDFONTS[soundfont][0])
        _SOUNDFONT_HOLDERS[soundfont] = holder
    synth = fluidsynth.Synth(samplerate=float(MUSIC_RATE), gain=0.2)
    return synth, synth.sfload(SOUNDFONTS[soundfont][0])


def _score_notes(piece: str) -> list[tuple[float, float, int, int]]:
    """(onset, duration in quarter notes, MIDI pitch, part) of every note of a corpus score."""
    from music21 import corpus, stream

    score = corpus.parse(piece)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    parts = list(score.parts) or [score]
    notes = []
    for index, part in enumerate(parts):
        for element in part.flatten().notes:
            pitches = element.pitches
            for pitch in pitches:
                if float(element.quarterLength) > 0:
                    notes.append((float(element.offset), float(element.quarterLength), int(pitch.midi), index))
    return sorted(notes)


def build_rendered(writer: UnitWriter, rng: np.random.Generator) -> None:
    p = writer.unit.params
    notes = _score_notes(p["piece"])
    if not notes:
        return
    seconds_per_quarter = 60.0 / p["bpm"]
    n_parts = max(note[3] for note in notes) + 1
    programs = ENSEMBLES[p["ensemble"]] or tuple(int(v) for v in rng.choice(
        [0, 6, 19, 24, 40, 42, 46, 52, 56, 60, 68, 71, 73, 11, 89], size=4, replace=False))
    synth, sfid = _synth(p["soundfont"])
    events: list[tuple[float, int, int, int, int]] = []  # time s, order (off first), channel, key, velocity
    for part in range(min(n_parts, 9)):  # channels 0-8; 9 is percussion
        synth.program_select(part, sfid, 0, programs[part % len(programs)])
    velocity_base = rng.uniform(60, 105, size=n_parts)
    for onset, duration, pitch, part in notes:
        if part > 8:
            continue
        start = onset * seconds_per_quarter + rng.normal(0.0, 0.008)
        if start >= MUSIC_SECONDS:
            break
        end = start + max(0.05, duration * seconds_per_quarter * rng.uniform(0.85, 1.0))
        velocity = int(np.clip(velocity_base[part] + rng.normal(0, 8), 20, 127))
        events += [(max(0.0, start), 1, part, pitch, velocity), (end, 0, part, pitch, 0)]
    if p["drums"]:
        synth.program_select(9, sfid, 128, 0)
        last = min(MUSIC_SECONDS, max(e[0] for e in events))
        kick, snare, hat = (36, 38, 42) if rng.random() < 0.7 else (35, 39, 46)
        beat = 0
        while beat * seconds_per_quarter < last:
            t = beat * seconds_per_quarter
            for key, level in ((kick if beat % 2 == 0 else snare, 95), (hat, 60)):
                events += [(t, 1, 9, key, int(level + rng.normal(0, 6))), (t + 0.1, 0, 9, key, 0)]
            if rng.random() < 0.5:
                events += [(t + seconds_per_quarter / 2, 1, 9, hat, 50), (t + seconds_per_quarter / 2 + 0.1, 0, 9, hat, 0)]
            beat += 1
    events.sort()
    blocks, now = [], 0
    for time_s, on, channel, key, velocity in events:
        # fluidsynth renders in 64-sample blocks: events on block edges keep a reused synth's
        # buffer phase aligned, so a piece renders the same whatever was rendered before it.
        sample = int(time_s * MUSIC_RATE) // 64 * 64
        if sample > now:
            blocks.append(synth.get_samples(sample - now))
            now = sample
        if on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    blocks.append(synth.get_samples(int(2.0 * MUSIC_RATE)))  # release and reverb tail
    synth.delete()
    stereo = np.concatenate(blocks).astype(np.float64).reshape(-1, 2) / 32768.0
    clipped = float(np.mean(np.abs(stereo) > 0.999))
    if clipped > 1e-4:
        print(f"  ! {writer.unit.name}: {100 * clipped:.2f} % of the rendered samples clip", flush=True)
    audio = trim_silence(stereo.mean(axis=1), MUSIC_RATE, below_db=50.0)
    instrument = p["ensemble"] + ("+percussion" if p["drums"] else "")
    for cut in segments(audio, MUSIC_RATE, rng.uniform(15.0, 25.0)):
        writer.add(cut, MUSIC_RATE, instrument=instrument)


def build_produced(writer: UnitWriter, rng: np.random.Generator) -> None:
    path = writer.unit.params["file"]
    if path.endswith(".g722"):
        import soxr

        audio = soxr.resample(decode_g722(path), 16000, MUSIC_RATE)
        rate = MUSIC_RATE
    else:
        audio, rate = load_audio(path, AudioConfig(sample_rate=MUSIC_RATE)).astype(np.float64), MUSIC_RATE
    for cut in segments(trim_silence(audio, rate), rate, PRODUCED_SEGMENT_S):
        writer.add(cut, rate)


def build_everyday(writer: UnitWriter, rng: np.random.Generator) -> None:
    files = sorted(f for pattern in writer.unit.params["patterns"] for f in map(Path, glob.glob(pattern))
                   if not any(skip in f.name for skip in EVERYDAY_SKIP))
    sounds = []
    for f in files:
        x = trim_silence(load_audio(f, AudioConfig(sample_rate=MUSIC_RATE)).astype(np.float64), MUSIC_RATE)
        if x.size > 0.05 * MUSIC_RATE:
            sounds.append(x[: int(12 * MUSIC_RATE)])
    total = sum(s.size for s in sounds) / MUSIC_RATE
    for _ in range(int(np.ceil(2.0 * total / 7.0))):  # each sound in about two sequences
        target, chosen = rng.uniform(4.0, 10.0), []
        for i in rng.permutation(len(sounds)):
            chosen.append(sounds[i])
            if sum(s.size for s in chosen) / MUSIC_RATE >= target:
                break
        writer.add(join(chosen, rng, MUSIC_RATE, (0.2, 1.0)), MUSIC_RATE)


BUILDERS = {"recorded": build_recorded, "synth": build_synth, "rendered": build_rendered,
            "produced": build_produced, "everyday": build_everyday}


# ---------------------------------------------------------------- the plan
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")  # not .rntxt: an analysis, not a score


def _music_pieces(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(corpus file, piece name, split group): per composer, 20 % foreign and 10 % val, the rest train.

    The corpus file is relative to music21's corpus folder, so the plan does not depend on
    where music21 is installed; a piece stored in two formats counts once.
    """
    from music21 import corpus

    out = []
    for composer, count in COMPOSERS:
        files: dict[str, str] = {}
        for path in sorted(str(p) for p in corpus.getComposer(composer)):
            parts = Path(path).parts
            relative = "/".join(parts[len(parts) - parts[::-1].index("corpus"):])  # e.g. mozart/k80/movement1.mxl
            if Path(relative).suffix not in SCORE_SUFFIXES or (composer == "bach" and "bwv" not in relative):
                continue
            files.setdefault(str(Path(relative).with_suffix("")), relative)
        names = sorted(files)
        chosen = [names[i] for i in rng.permutation(len(names))[:count]]
        for i, name in enumerate(chosen):
            share = (i + 0.5) / len(chosen)
            split = "foreign" if share >= 0.8 else "val" if share >= 0.7 else "train"
            if len(chosen) == 1:
                split = "train"
            out.append((files[name], name, split))
    return out


def _folder_name(name: str) -> str:
    """A piece name as one plain folder name (corpus names hold slashes, spaces, parentheses)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_")


def plan() -> list[Unit]:
    units: list[Unit] = []
    for folder, speaker, language, split, limit in RECORDED_SPEAKERS:
        units.append(Unit(f"asterisk/{folder}", "speech", "recorded", split,
                          {"folder": folder, "speaker": speaker, "language": language, "limit": limit}))
    for voice, language, split in FLITE_VOICES:
        units.append(Unit(f"flite/{voice}", "speech_synth", "synth", split,
                          {"engine": "flite", "voice": voice, "language": language, "clips": SYNTH_CLIPS["flite"]}))
    for voice, language, split in ESPEAK_VOICES:
        units.append(Unit(f"espeak-ng/{voice}", "speech_synth", "synth", split,
                          {"engine": "espeak-ng", "voice": voice, "language": language,
                           "clips": SYNTH_CLIPS["espeak-ng"]}))
    for voice, language, package in FESTIVAL_VOICES:
        units.append(Unit(f"festival/{voice}", "speech_synth", "synth", "foreign",
                          {"engine": "festival", "voice": voice, "language": language, "package": package,
                           "clips": SYNTH_CLIPS["festival"]}))
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(1,)))
    ensembles = sorted(ENSEMBLES)
    for path, name, split in _music_pieces(rng):
        soundfont = FOREIGN_SOUNDFONT if split == "foreign" else TRAIN_SOUNDFONTS[int(rng.integers(2))]
        units.append(Unit(f"fluidsynth/{_folder_name(name)}@{soundfont}", "music", "rendered", split,
                          {"piece": path, "name": name, "soundfont": soundfont,
                           "ensemble": ensembles[int(rng.integers(len(ensembles)))],
                           "bpm": round(float(rng.uniform(55.0, 140.0)), 1),
                           "drums": bool(rng.random() < DRUM_PROBABILITY)}))
    for package, path, split, licence in PRODUCED_TRACKS:
        if Path(path).exists():
            units.append(Unit(f"produced/{package}_{Path(path).stem}", "music", "produced", split,
                              {"file": path, "package": package, "licence": licence}))
    for package, patterns, split, licence in EVERYDAY_PACKAGES:
        if any(glob.glob(pattern) for pattern in patterns):
            units.append(Unit(f"sfx/{package}", "everyday", "everyday", split,
                              {"patterns": list(patterns), "package": package, "licence": licence}))
    return units


def common_fields(unit: Unit) -> dict[str, Any]:
    p = unit.params
    if unit.builder == "recorded":
        return {"source": f"asterisk-core-sounds-{p['folder'][:2]}-g722", "engine": "asterisk",
                "voice": f"{p['speaker']} ({p['language']})", "licence": ASTERISK_LICENCE,
                "group": f"asterisk:{p['speaker']}"}
    if unit.builder == "synth":
        source = p.get("package", p["engine"])
        licence = VOICE_LICENCES.get(source, VOICE_LICENCES.get(p["engine"], ""))
        return {"source": source, "engine": p["engine"], "voice": f"{p['voice']} ({p['language']})",
                "licence": f"voice: {licence}, text: written for this project", "group": f"{p['engine']}:{p['voice']}"}
    if unit.builder == "rendered":
        _, package, licence = SOUNDFONTS[p["soundfont"]]
        return {"source": package, "engine": "fluidsynth", "piece": p["name"], "soundfont": p["soundfont"],
                "licence": f"score: public domain (music21 corpus), soundfont: {licence}",
                "group": f"{p['name']}@{p['soundfont']}"}
    if unit.builder == "produced":
        return {"source": p["package"], "engine": "produced", "piece": Path(p["file"]).stem,
                "licence": p["licence"], "group": f"{p['package']}:{Path(p['file']).stem}"}
    return {"source": p["package"], "engine": "sfx", "piece": "", "licence": p["licence"],
            "group": p["package"]}


def build_unit(task: tuple[Unit, str]) -> tuple[str, list[dict[str, Any]], float, bool]:
    """Build one unit (or reuse it); returns (name, rows, seconds, reused)."""
    unit, out_text = task
    out = Path(out_text)
    marker = out / unit.kind / unit.name / "unit.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("fingerprint") == unit.fingerprint() and all((out / r["path"]).exists() for r in saved["rows"]):
            return unit.name, saved["rows"], 0.0, True
    start = time.perf_counter()
    writer = UnitWriter(out, unit, common_fields(unit))
    try:
        BUILDERS[unit.builder](writer, unit.rng())
    except Exception as exc:  # one broken source must not stop the bank; reported at the end
        print(f"  ! {unit.name}: {type(exc).__name__}: {exc}", flush=True)
        return unit.name, [], time.perf_counter() - start, False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"fingerprint": unit.fingerprint(), "unit": asdict(unit), "rows": writer.rows},
                                 indent=1))
    return unit.name, writer.rows, time.perf_counter() - start, False


def versions() -> dict[str, dict[str, str]]:
    from importlib import metadata

    debian = {}
    for package in DEBIAN_PACKAGES:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
        debian[package] = result.stdout.strip() if result.returncode == 0 else "not installed"
    pypi = {}
    for package in PYPI_PACKAGES:
        try:
            pypi[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pypi[package] = "not installed"
    return {"debian": debian, "pypi": pypi}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="data/stimulus_bank", help="bank folder (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default %(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(BUILDERS), help="build only these unit types")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    units = [u for u in plan() if not args.only or u.builder in args.only]
    # Music first: the longest units, so the pool ends evenly.
    units.sort(key=lambda u: (u.builder != "rendered", u.builder != "recorded", u.name))
    duplicates = sorted({u.name for u in units if sum(v.name == u.name for v in units) > 1})
    if duplicates:
        raise SystemExit(f"the plan names these units twice: {', '.join(duplicates)}")
    print(f"building {len(units)} units into {out} with {args.workers} worker(s)", flush=True)
    rows: list[dict[str, Any]] = []
    failed, reused, per_builder = [], 0, {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        for done, (name, unit_rows, seconds, was_reused) in enumerate(
                pool.imap_unordered(build_unit, [(u, str(out)) for u in units]), start=1):
            rows.extend(unit_rows)
            reused += was_reused
            builder = next(u.builder for u in units if u.name == name)
            per_builder[builder] = per_builder.get(builder, 0.0) + seconds
            if not unit_rows:
                failed.append(name)
            if done % 20 == 0 or done == len(units):
                print(f"  {done}/{len(units)} units, {len(rows)} clips, {time.perf_counter() - started:.0f} s",
                      flush=True)
    if args.only and (out / INDEX_NAME).exists():  # keep the rows of the other unit types
        with open(out / INDEX_NAME, newline="", encoding="utf-8") as handle:
            built = {u.name for u in units}
            for row in csv.DictReader(handle, delimiter=DELIMITER):
                if row["path"].split("/", 1)[1].rsplit("/", 1)[0] not in built:
                    rows.append(row)
    if not args.only:  # units of an older plan (renamed pieces, dropped voices) leave the bank
        planned = {out / u.kind / u.name for u in units}
        for marker in sorted(out.rglob("unit.json")):
            if marker.parent not in planned:
                shutil.rmtree(marker.parent)
                print(f"  removed stale unit {marker.parent}")
    rows.sort(key=lambda r: r["path"])
    with open(out / INDEX_NAME, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS, delimiter=DELIMITER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    wall = time.perf_counter() - started
    summary: dict[str, Any] = {}
    for row in rows:
        entry = summary.setdefault(row["kind"], {}).setdefault(row["split_group"], {"clips": 0, "minutes": 0.0})
        entry["clips"] += 1
        entry["minutes"] += float(row["duration_s"]) / 60.0
    size = sum(f.stat().st_size for f in out.rglob("*.flac"))
    build = {"build_version": BUILD_VERSION, "seed": SEED, "wall_s": round(wall, 1), "workers": args.workers,
             "unit_s_built_per_builder": {k: round(v, 1) for k, v in per_builder.items()}, "units": len(units),
             "units_reused": reused, "units_failed": failed, "clips": len(rows), "flac_bytes": size,
             "summary": {k: {s: {"clips": e["clips"], "minutes": round(e["minutes"], 1)} for s, e in v.items()}
                         for k, v in sorted(summary.items())},
             "packages": versions()}
    (out / "BUILD.json").write_text(json.dumps(build, indent=1))
    print(f"{len(rows)} clips, {size / 1e6:.0f} MB, {wall:.0f} s wall ({reused} units reused, {len(failed)} failed)")
    for kind, splits in build["summary"].items():
        text = ", ".join(f"{s} {e['clips']} clips / {e['minutes']} min" for s, e in sorted(splits.items()))
        print(f"  {kind:13s} {text}")
    if failed:
        print("failed units: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

"""A bank of real test-box stimuli: recorded and synthetic speech, rendered and
produced music, everyday sounds, and ISTS-like multi-talker speech.

The bank is a folder of mono clips plus ``index.csv`` (``;``-separated, one
row per clip), made by ``scripts/build_stimulus_bank.py``. Its
``split_group`` column keeps whole sources apart: ``train`` and ``val`` hold
disjoint groups (speakers, pieces, tracks), ``foreign`` holds sources the
models never see in training (a held-out speaker / language, a whole TTS
engine, a whole soundfont and its own pieces, other produced tracks). A
split is therefore a filter on the index, never a second code path.

Only :mod:`audio_artifacts.audio` opens the clips. Opening a bank reads the
index and checks that the files exist; decoded clips are cached per
instance (least recently used first out). The instance pickles without its
cache, so worker processes get it cheaply.
"""

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from audio_artifacts.errors import AudioLoadError, BankError

BANK_KINDS: tuple[str, ...] = ("speech", "speech_synth", "ists", "music", "everyday")
SPLIT_GROUPS: tuple[str, ...] = ("train", "val", "foreign")
# What each render split reads: "test" is the own-distribution test, so it
# draws from the train groups (with the test split's own seeds).
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val",),
    "test": ("train",),
    "foreign": ("foreign",),
    "all": SPLIT_GROUPS,
}
INDEX_NAME = "index.csv"
DELIMITER = ";"
# Speech kinds an ISTS-like signal is interleaved from when the bank holds no ISTS clips.
ISTS_SOURCE_KINDS: tuple[str, ...] = ("speech", "speech_synth")
ISTS_SEGMENT_S: tuple[float, float] = (0.1, 0.6)
ISTS_VOICES: tuple[int, int] = (4, 6)
GAP_S: tuple[float, float] = (0.1, 0.5)  # between concatenated clips
FADE_S = 0.005  # raised-cosine ramp at every cut, so cuts do not click


@dataclass(frozen=True)
class BankClip:
    """One clip of the bank, as its ``index.csv`` row describes it.

    ``path`` is absolute; ``group`` is the unit that never crosses split
    groups (a speaker or voice, a piece with its soundfont, a track).
    """

    path: Path
    kind: str
    source: str
    engine: str
    voice: str
    piece: str
    soundfont: str
    instrument: str
    licence: str
    duration_s: float
    sample_rate: int
    group: str
    split_group: str

    def describe(self) -> str:
        """``<engine>:<voice>`` for speech, ``<engine>:<piece>@<soundfont>:<instrument>`` for music."""
        if self.soundfont:
            return f"{self.engine}:{self.piece}@{self.soundfont}:{self.instrument}"
        return f"{self.engine}:{self.voice or self.piece or self.source}"


INDEX_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(BankClip))


def _parse_rows(directory: Path, text: str) -> tuple[list[BankClip], list[str]]:
    """Rows of ``index.csv`` as clips, plus every problem found (with line numbers)."""
    index = directory / INDEX_NAME
    rows = list(csv.reader(text.splitlines(), delimiter=DELIMITER))
    if not rows:
        return [], [f"{index} is empty (expected a header: {DELIMITER.join(INDEX_COLUMNS)})"]
    header = [name.strip() for name in rows[0]]
    missing = [name for name in INDEX_COLUMNS if name not in header]
    if missing:
        return [], [f"{index}: missing column(s) {', '.join(missing)} (header has {', '.join(header)})"]
    position = {name: header.index(name) for name in INDEX_COLUMNS}
    clips: list[BankClip] = []
    problems: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
            continue
        value = {name: row[position[name]].strip() for name in INDEX_COLUMNS}
        row_problems: list[str] = []
        if value["kind"] not in BANK_KINDS:
            row_problems.append(f"unknown kind {value['kind']!r} (one of {', '.join(BANK_KINDS)})")
        if value["split_group"] not in SPLIT_GROUPS:
            row_problems.append(f"unknown split_group {value['split_group']!r} (one of {', '.join(SPLIT_GROUPS)})")
        if not value["group"]:
            row_problems.append("empty group")
        try:
            duration = float(value["duration_s"])
            if not (math.isfinite(duration) and duration > 0):
                raise ValueError
        except ValueError:
            row_problems.append(f"duration_s {value['duration_s']!r} is not a positive number of seconds")
            duration = 0.0
        try:
            rate = int(value["sample_rate"])
            if rate <= 0:
                raise ValueError
        except ValueError:
            row_problems.append(f"sample_rate {value['sample_rate']!r} is not a positive integer (Hz)")
            rate = 0
        relative = Path(value["path"])
        if not value["path"] or relative.is_absolute() or ".." in relative.parts:
            row_problems.append(f"path {value['path']!r} must be a file path relative to the bank folder")
        elif not (directory / relative).is_file():
            row_problems.append(f"clip file {directory / relative} does not exist")
        if row_problems:
            problems.extend(f"line {line}: {p}" for p in row_problems)
            continue
        clips.append(BankClip(**{**value, "path": directory / relative, "duration_s": duration,
                                 "sample_rate": rate}))
    # The foreign-split rule as an invariant: a group or a piece lives in one split group.
    for attribute in ("group", "piece"):
        homes: dict[tuple[str, str], set[str]] = {}
        for clip in clips:
            name = getattr(clip, attribute)
            if name:
                homes.setdefault((clip.kind, name), set()).add(clip.split_group)
        for (kind, name), splits in sorted(homes.items()):
            if len(splits) > 1:
                problems.append(f"{kind} {attribute} {name!r} appears in several split groups: "
                                f"{', '.join(sorted(splits))}")
    return clips, problems


def _fade(segment: np.ndarray, sample_rate: int) -> np.ndarray:
    """Raised-cosine ramps of ``FADE_S`` at both ends (a copy)."""
    out = np.array(segment, dtype=np.float64)
    ramp_n = min(int(FADE_S * sample_rate), out.size // 2)
    if ramp_n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp_n) + 0.5) / ramp_n)
        out[:ramp_n] *= ramp
        out[-ramp_n:] *= ramp[::-1]
    return out


def _resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """float64 copy at ``rate_out`` (soxr, high quality)."""
    import soxr

    samples = np.asarray(samples, dtype=np.float64)
    if rate_in == rate_out or samples.size == 0:
        return samples.copy()
    return np.asarray(soxr.resample(samples, rate_in, rate_out, quality="HQ"), dtype=np.float64)


def _speech_runs(signal: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """Sample ranges of continuous speech: 20 ms frames within 35 dB of the loudest, gaps of
    up to 60 ms (stop closures) bridged, runs of at least 60 ms. Cutting only inside these
    removes the pauses without joining two points of the waveform that did not follow each other."""
    block = max(1, int(0.02 * sample_rate))
    count = signal.size // block
    if count == 0:
        return []
    power = np.mean(signal[: count * block].reshape(count, block).astype(np.float64) ** 2, axis=1)
    active = power >= power.max() * 10 ** -3.5 if power.max() > 0 else np.zeros(count, dtype=bool)
    runs: list[tuple[int, int]] = []
    frames = np.flatnonzero(active)
    if frames.size == 0:
        return runs
    first = previous = int(frames[0])
    for frame in frames[1:].tolist() + [None]:
        if frame is not None and frame - previous <= 4:  # a gap of at most 3 quiet frames
            previous = frame
            continue
        if previous + 1 - first >= 3:
            runs.append((first * block, (previous + 1) * block))
        if frame is not None:
            first = previous = frame
    return runs


class StimulusBank:
    """The clips of one bank folder, filtered by kind and split, rendered as stimuli.

    Use :meth:`open`; the constructor takes already validated clips.

    Parameters
    ----------
    directory : Path
        The bank folder (holds ``index.csv``).
    clips : tuple of BankClip
        Every clip of the index.
    cache_clips : int
        How many decoded clips to keep in memory (at their own rate, float32).
    cache_mb : float
        Upper bound of that cache in MB (30 s at 32 kHz is 3.8 MB).
    """

    def __init__(self, directory: Path, clips: tuple[BankClip, ...], cache_clips: int = 64,
                 cache_mb: float = 160.0) -> None:
        if cache_clips < 1:
            raise ValueError(f"cache_clips must be at least 1, got {cache_clips}")
        if not cache_mb > 0:
            raise ValueError(f"cache_mb must be positive, got {cache_mb}")
        self.directory = Path(directory)
        self._clips = tuple(clips)
        self._cache_clips = int(cache_clips)
        self._cache_bytes = int(cache_mb * 1e6)
        # Clips stay at their native rate: a 96 kHz recording must not multiply the memory.
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        present = {clip.kind for clip in self._clips}
        if sum(1 for _ in self._voices(self._clips)) >= 2:
            present.add("ists")  # interleaved at render time from the speech clips
        self.kinds: tuple[str, ...] = tuple(kind for kind in BANK_KINDS if kind in present)

    @classmethod
    def open(cls, directory: str | Path, cache_clips: int = 64, cache_mb: float = 160.0) -> StimulusBank:
        """Read and check ``directory/index.csv``.

        Raises
        ------
        BankError
            The folder or its index is missing or unreadable; or rows have
            missing columns, unknown kinds or split groups, bad numbers,
            missing clip files, or a group / piece in two split groups. All
            problems are listed in one error.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise BankError(directory, ["stimulus bank folder does not exist (build it with "
                                        "scripts/build_stimulus_bank.py)"])
        index = directory / INDEX_NAME
        try:
            text = index.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BankError(directory, [f"no {INDEX_NAME} in the bank folder"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BankError(directory, [f"{index} cannot be read: {exc}"]) from None
        clips, problems = _parse_rows(directory, text)
        if problems:
            raise BankError(index, problems)
        if not clips:
            raise BankError(index, ["the index lists no clips"])
        return cls(directory, tuple(clips), cache_clips, cache_mb)

    # -- pickling: workers get the index, not the decoded audio
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"StimulusBank({str(self.directory)!r}, {len(self._clips)} clips, kinds={self.kinds})"

    def __len__(self) -> int:
        return len(self._clips)

    def clips(self, kind: str, split: str) -> list[BankClip]:
        """The clips of ``kind`` that ``split`` may use.

        ``split``: ``"train"``, ``"val"``, ``"foreign"`` read their split
        group; ``"test"`` reads the train groups (own-distribution test, new
        seeds); ``"all"`` every clip. ``kind`` ``"ists"`` lists only ISTS
        clips stored in the bank (render builds them otherwise).
        """
        if kind not in BANK_KINDS:
            raise ValueError(f"unknown bank kind {kind!r}; choose one of {', '.join(BANK_KINDS)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        groups = SPLITS[split]
        return [clip for clip in self._clips if clip.kind == kind and clip.split_group in groups]

    @staticmethod
    def _voices(clips: tuple[BankClip, ...] | list[BankClip]) -> dict[str, list[BankClip]]:
        voices: dict[str, list[BankClip]] = {}
        for clip in clips:
            if clip.kind in ISTS_SOURCE_KINDS:
                voices.setdefault(clip.group, []).append(clip)
        return voices

    def _load(self, clip: BankClip) -> np.ndarray:
        """The clip as mono float32 at ``clip.sample_rate`` (cached, least recently used out first)."""
        from audio_artifacts.audio import AudioConfig, load_audio

        cached = self._cache.get(clip.path)
        if cached is not None:
            self._cache.move_to_end(clip.path)
            return cached
        try:
            samples = load_audio(clip.path, AudioConfig(sample_rate=clip.sample_rate))
        except AudioLoadError as exc:
            raise BankError(self.directory, [f"clip {exc.path}: {exc.reason}"]) from None
        self._cache[clip.path] = samples
        while len(self._cache) > 1 and (len(self._cache) > self._cache_clips
                                        or sum(a.nbytes for a in self._cache.values()) > self._cache_bytes):
            self._cache.popitem(last=False)
        return samples

    @staticmethod
    def _draw(rng: np.random.Generator, pool: list[BankClip]) -> BankClip:
        """A group uniformly, then one of its clips: speakers with many clips do not dominate."""
        groups = sorted({clip.group for clip in pool})
        group = groups[int(rng.integers(len(groups)))]
        members = [clip for clip in pool if clip.group == group]
        return members[int(rng.integers(len(members)))]

    def _concatenate(self, rng: np.random.Generator, pool: list[BankClip], n_samples: int,
                     sample_rate: int) -> tuple[np.ndarray, list[BankClip]]:
        """Clips from random offsets, joined with short gaps of silence, until ``n_samples``."""
        out = np.zeros(n_samples)
        used: list[BankClip] = []
        t = 0
        while t < n_samples:
            clip = self._draw(rng, pool)
            samples = self._load(clip)
            need = n_samples - t
            need_native = int(np.ceil(need * clip.sample_rate / sample_rate))
            if samples.size > need_native:
                start = int(rng.integers(samples.size - need_native + 1))
            else:  # shorter than what is left: start anywhere in its first half
                start = int(rng.integers(samples.size // 2 + 1))
            segment = _resample(samples[start: start + need_native], clip.sample_rate, sample_rate)[:need]
            out[t: t + segment.size] = _fade(segment, sample_rate)
            used.append(clip)
            t += segment.size + int(rng.uniform(*GAP_S) * sample_rate)
        return out, used

    def _interleave(self, rng: np.random.Generator, split: str, n_samples: int,
                    sample_rate: int) -> tuple[np.ndarray, list[BankClip]]:
        """ISTS-like: 100-600 ms segments of 4-6 voices' speech, never the same voice twice in a row.

        Segments are cut inside continuous speech only (pauses left out), each ramped by ``_fade``.
        """
        pool = [clip for kind in ISTS_SOURCE_KINDS for clip in self.clips(kind, split)]
        voices = self._voices(pool)
        if len(voices) < 2:
            raise BankError(self.directory, [f"an ISTS-like stimulus for split {split!r} needs speech of at least "
                                             f"2 voices; the bank has {len(voices)}"])
        names = sorted(voices)
        count = min(len(names), int(rng.integers(ISTS_VOICES[0], ISTS_VOICES[1] + 1)))
        chosen = [names[i] for i in rng.choice(len(names), size=count, replace=False)]
        streams: list[tuple[np.ndarray, list[tuple[int, int]]]] = []
        used: list[BankClip] = []
        for name in chosen:
            clip = voices[name][int(rng.integers(len(voices[name])))]
            speech = _resample(self._load(clip), clip.sample_rate, sample_rate)
            runs = _speech_runs(speech, sample_rate)
            if runs:
                power = np.mean(np.concatenate([speech[a:b] for a, b in runs]) ** 2)
                streams.append((speech / np.sqrt(power), runs))  # equal level per talker, as in the ISTS
                used.append(clip)
        if len(streams) < 2:
            raise BankError(self.directory, [f"fewer than 2 non-silent speech clips for split {split!r}"])
        # Each talker reads on from a random point: (run index, offset into the run).
        positions = [(int(rng.integers(len(runs))), 0) for _, runs in streams]
        min_segment = int(0.06 * sample_rate)
        out = np.zeros(n_samples)
        t, previous = 0, -1
        while t < n_samples:
            if previous < 0:
                voice = int(rng.integers(len(streams)))
            else:  # any other voice
                voice = (previous + 1 + int(rng.integers(len(streams) - 1))) % len(streams)
            speech, runs = streams[voice]
            run, offset = positions[voice]
            begin, end = runs[run]
            length = min(int(rng.uniform(*ISTS_SEGMENT_S) * sample_rate), n_samples - t, end - begin - offset)
            out[t: t + length] = _fade(speech[begin + offset: begin + offset + length], sample_rate)
            offset += length
            if end - begin - offset < min_segment:  # this stretch of speech is used up: on to the next
                run, offset = (run + 1) % len(runs), 0
            positions[voice] = (run, offset)
            t += length
            if rng.random() < 0.1:  # the ISTS keeps short pauses
                t += int(rng.uniform(0.1, 0.4) * sample_rate)
            previous = voice
        return out, used

    def render(self, rng: np.random.Generator, kind: str, n_samples: int, sample_rate: int,
               level_db: float, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        """One stimulus from the bank.

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws the clips, offsets and gaps (the only randomness).
        kind : str
            One of ``BANK_KINDS``. ``"ists"`` uses the bank's ISTS clips if
            the split has any, else interleaves its speech clips.
        n_samples : int
            Length at ``sample_rate``.
        sample_rate : int
            Hz of the recording.
        level_db : float
            Input level, dB SPL RMS over the active parts (``stimuli.active_rms``).
        split : str
            ``"train"``, ``"val"``, ``"test"``, ``"foreign"`` or ``"all"`` (see :meth:`clips`).

        Returns
        -------
        signal : numpy.ndarray
            ``(n_samples,)`` float64 pressure in Pa.
        meta : dict
            ``stimulus_source`` (``<engine>:<voice>`` or
            ``<engine>:<piece>@<soundfont>:<instrument>``, ``+``-joined when
            several) and ``clips`` (paths relative to the bank folder).

        Raises
        ------
        BankError
            The split has no clips of ``kind`` or a clip cannot be decoded.
        """
        from audio_artifacts.simulate.device import P_REF
        from audio_artifacts.simulate.stimuli import active_rms

        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples <= 0:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
        n_samples, sample_rate = int(n_samples), int(sample_rate)
        pool = self.clips(kind, split)
        if kind == "ists" and not pool:
            signal, used = self._interleave(rng, split, n_samples, sample_rate)
            source = "ists:" + "+".join(dict.fromkeys(clip.voice or clip.group for clip in used))
        else:
            if not pool:
                raise BankError(self.directory, [f"no {kind!r} clips for split {split!r} "
                                                 f"(split groups {', '.join(SPLITS[split])})"])
            signal, used = self._concatenate(rng, pool, n_samples, sample_rate)
            source = "+".join(dict.fromkeys(clip.describe() for clip in used))
        rms = active_rms(signal, sample_rate)
        if rms > 0:
            signal *= P_REF * 10.0 ** (level_db / 20.0) / rms
        relative = [clip.path.relative_to(self.directory).as_posix() for clip in used]
        return signal, {"stimulus_source": source, "clips": relative}

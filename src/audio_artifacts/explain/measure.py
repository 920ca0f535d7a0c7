"""Measure one event in its audio: lines, comb, envelopes, periods, levels, evidence for times.

:func:`analyse` does the type-independent work once; :func:`features` turns
it into the type head's input; :func:`describe_fields` picks, for a type, the
frequencies, period, level, band and times to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audio_artifacts.explain.bands import OCTAVE_BANDS, PROFILE_NAMES, octave_profile
from audio_artifacts.explain.envelopes import BandEnvelopes
from audio_artifacts.explain.lines import (
    Comb,
    Line,
    find_comb,
    pick_lines,
    report_frequencies,
)
from audio_artifacts.explain.periods import (
    ENVELOPE_RATE,
    Periodicity,
    autocorrelation_period,
    impulse_times,
    interval_period,
)
from audio_artifacts.explain.spectra import (
    fine_frame,
    frame_centres,
    spectral_floor,
    stft_power,
    time_floor,
)
from audio_artifacts.explain.timing import crossing_span, smooth, threshold_db

#: Bumped whenever a measured feature changes for the same audio (caches of features key on it).
MEASURE_VERSION = 3
LINE_TYPES = ("tonal", "tdma_buzz", "packet_buzz")
IMPULSIVE_TYPES = ("periodic_ticks", "thumps", "clicks")
#: Frame of the coarse analysis (s): the simulator's level frame (``simulate.levels``).
_COARSE_S = 0.032
#: Percentile of the fine frames that the line spectrum is (robust to a stimulus, keeps a part-time line).
_LINE_PERCENTILE = 70.0
#: A line track or envelope is active this far over its floor (dB).
_DETECT_DB = 8.0
_TRACKED_LINES = 24
_RING = np.r_[-12:-4, 5:13]  # bins beside a line: its floor in each frame
_FLOOR_RANGE_DB = 25.0  # as simulate.artifacts: a band far under the rest counts as this far under


@dataclass(frozen=True)
class EventAudio:
    """The audio of an event: mono samples, their rate, the time of the first one, and the flagged span.

    ``span_s`` is in recording time (seconds); the samples may reach beyond it
    so onsets and offsets can be found a little outside the flagged windows.
    """

    samples: np.ndarray
    rate: int
    offset_s: float
    span_s: tuple[float, float]


@dataclass
class Analysis:
    """Everything measured in one event (recording times in seconds)."""

    lines: list[Line]
    comb: Comb | None
    resolution_hz: float
    line_frame_s: float
    line_track: tuple[np.ndarray, np.ndarray] | None  # (times, dB over the floor) of the strongest lines
    line_level_db: float | None
    stationary_band: tuple[float, float]
    stationary_level_db: float
    impulsive_band: tuple[float, float]
    impulsive_level_db: float
    envelope_times: np.ndarray
    stationary_envelope_db: np.ndarray  # dB over its floor
    impulsive_envelope_db: np.ndarray
    impulses: np.ndarray  # times of impulses inside the span
    impulse_period: Periodicity | None
    modulation: Periodicity | None  # of the stationary band's envelope
    repetition: Periodicity | None  # of the impulsive band's envelope
    span_s: tuple[float, float]
    band_train: Periodicity | None = None  # the most evident regular impulse train of any octave band
    band_clicks: np.ndarray = field(default_factory=lambda: np.zeros(0))  # bursts of the most contrasted band
    band_train_times: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the impulses of band_train
    extras: dict[str, float] = field(default_factory=dict)


def analyse(audio: EventAudio) -> Analysis:
    """Measure an event; see the module docstring."""
    x = np.asarray(audio.samples, dtype=np.float32)
    rate = int(audio.rate)
    start, end = audio.span_s
    lines, comb, resolution, line_track, levels, steady = _lines(x, rate, audio.offset_s, (start, end))
    line_level, line_level_feature = levels if levels is not None else (None, None)
    envelopes = BandEnvelopes(x, rate, ENVELOPE_RATE)  # one transform for every band's envelope
    profile = octave_profile(envelopes, audio.offset_s, (start, end))
    stat_band, stat_level, imp_band, imp_level, excess_share = _bands(x, rate, audio.offset_s, (start, end))
    times, stat_env = _envelope_db(envelopes, stat_band, audio.offset_s)
    _, imp_env = _envelope_db(envelopes, imp_band, audio.offset_s)
    inside = (times >= start) & (times <= end)
    if inside.sum() < 8:
        inside = np.ones(times.size, dtype=bool)
    imp_in = imp_env[inside]
    # Impulses: 12 dB over the envelope's median and within 20 dB of the strongest one, so
    # the noise's own peaks (a few thousand envelope steps) are not taken for ticks.
    floor_db = max(float(np.median(imp_in)) + 12.0 - _DETECT_DB - 2, float(imp_in.max()) - 20.0 - _DETECT_DB - 2) \
        if imp_in.size else 0.0
    impulses = impulse_times(10 ** ((imp_in - floor_db) / 10), ENVELOPE_RATE, 1.0, over_db=_DETECT_DB + 2,
                             min_gap_s=0.04) + (times[inside][0] - 0.5 / ENVELOPE_RATE if inside.any() else 0.0)
    impulse_period = interval_period(impulses)
    modulation = autocorrelation_period(10 ** (stat_env[inside] / 10), ENVELOPE_RATE, 0.06, 1.5)
    repetition = autocorrelation_period(10 ** (imp_env[inside] / 10), ENVELOPE_RATE, 0.04, 1.5)
    stat_in = stat_env[inside]
    extras = {
        "stat_env_spread_db": float(np.percentile(stat_in, 90) - np.percentile(stat_in, 10)) if stat_in.size else 0.0,
        "imp_env_crest_db": float(imp_in.max() - np.median(imp_in)) if imp_in.size else 0.0,
        "imp_active_share": float(np.mean(imp_in >= _DETECT_DB)) if imp_in.size else 0.0,
        "excess_band_share": excess_share,
        "span_s": float(end - start),
        "steady_lines": steady[0],
        "steady_top_prominence_db": steady[1],
        "line_level_feature_db": line_level_feature,  # the type heads' scale of line_level_db (_line_level)
        **{f"octave{k}_{name}": float(profile.measures[k, j]) for k in range(len(OCTAVE_BANDS))
           for j, name in enumerate(PROFILE_NAMES)},
    }
    return Analysis(lines, comb, resolution, 1.0 / resolution, line_track, line_level, stat_band, stat_level, imp_band, imp_level,
                    times, stat_env, imp_env, impulses, impulse_period, modulation, repetition, (start, end),
                    profile.train, profile.clicks, profile.train_times, extras)


def _lines(x: np.ndarray, rate: int, offset: float, span: tuple[float, float]):
    frame = fine_frame(rate)
    while frame > 1024 and frame > x.size:
        frame //= 2
    hop = frame // 4
    power = stft_power(x, frame, hop)
    times = offset + frame_centres(power.shape[0], frame, hop, rate)
    resolution = rate / frame
    inside = (times >= span[0]) & (times <= span[1])
    if not inside.any():
        inside = np.ones(times.size, dtype=bool)
    quiet, spectrum = np.percentile(power[inside], [20.0, _LINE_PERCENTILE], axis=0)  # one partition for both
    lines, _ = pick_lines(spectrum, resolution, max_hz=0.46 * rate)
    # Lines in the quiet 20 % of the frames: stationary ones, not a stimulus's moving harmonics.
    steady, _ = pick_lines(quiet, resolution, max_hz=0.46 * rate)
    steady_stats = (float(np.log1p(len(steady))), max((line.prominence_db for line in steady), default=0.0))
    lines = sorted(lines, key=lambda line: -line.prominence_db)[:200]
    comb = find_comb(lines, resolution)
    steady = sorted(steady, key=lambda line: -line.prominence_db)[:200]
    steady_comb = find_comb(steady, resolution)
    if steady_comb is not None and (comb is None or len(steady_comb.harmonics) > len(comb.harmonics)):
        lines, comb = steady, steady_comb  # a buzz under speech or music shows in the quiet frames
    lines = sorted(lines, key=lambda line: line.frequency_hz)
    if not lines:
        return lines, comb, resolution, None, None, steady_stats
    tracked = sorted(lines, key=lambda line: -line.prominence_db)[:_TRACKED_LINES]
    bins = np.array([int(round(line.frequency_hz / resolution)) for line in tracked])
    nbins = power.shape[1]
    peak = sum(power[:, np.clip(bins + d, 0, nbins - 1)] for d in (-1, 0, 1))  # (frames, lines)
    # Each line's floor: the median of the bins beside it, over all frames (an onset's splatter
    # into those bins lasts one frame and does not move it). 3 bins of noise over the median of
    # noise: expected ratio 3 / ln 2, taken out so the floor reads 0 dB.
    ring = np.median(power[:, np.clip(bins[:, None] + _RING[None, :], 0, nbins - 1)], axis=(0, 2))
    track_db = 10 * np.log10(np.maximum(peak.sum(axis=1), 1e-30) / max(ring.sum() * 3 / np.log(2), 1e-30))
    track = smooth(track_db, 2)
    level = _line_level(power, inside if not (track >= _DETECT_DB).any() else (track >= _DETECT_DB),
                        bins, resolution, rate)
    return lines, comb, resolution, (times, track), level, steady_stats  # level: (reported, feature scale)


def _line_level(power: np.ndarray, active: np.ndarray, bins: np.ndarray, resolution: float, rate: int
                ) -> tuple[float, float]:
    """Lines' power over the floor in the third-octave band where they stand out most (dB), as the simulator
    defines levels; and the same figure on the scale the type heads were fitted on.

    Both sums (the lines' excess and the floor's) run over the band's bins of one spectrum, so their
    ratio does not depend on the frame length. The type heads were fitted on that ratio times the
    fine frame over the simulator's 32 ms frame (10-12 dB more; docs/evaluation.md, "Levels"), so
    their ``line_level_db`` feature keeps that scale.
    """
    from audio_artifacts.simulate.levels import analysis_bands

    mean = power[active].mean(axis=0).astype(np.float64)
    floor = spectral_floor(mean, int(round(160.0 / resolution)))
    excess = np.zeros_like(mean)
    for d in (-2, -1, 0, 1, 2):
        index = np.clip(bins + d, 0, mean.size - 1)
        excess[index] = np.maximum(mean[index] - floor[index], 0.0)
    freqs = np.arange(mean.size) * resolution
    bands = analysis_bands(rate)
    art = np.array([excess[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in bands])
    base = np.array([floor[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in bands])
    widths = np.array([max(1, ((freqs >= lo) & (freqs < hi)).sum()) for lo, hi in bands])
    density = base / widths
    base = np.maximum(density, density.max() * 10 ** (-_FLOOR_RANGE_DB / 10)) * widths
    from audio_artifacts.simulate.levels import frame_length

    ratio = art / np.maximum(base, 1e-30)
    fitted_scale = ratio.max() * (mean.size - 1) * 2 / frame_length(rate)
    return float(10 * np.log10(max(ratio.max(), 1e-6))), float(10 * np.log10(max(fitted_scale, 1e-6)))


def _bands(x: np.ndarray, rate: int, offset: float, span: tuple[float, float]):
    """Best and extended third-octave bands of the stationary (mean) and impulsive (loudest frame) excess."""
    from audio_artifacts.simulate.levels import band_matrix, frame_powers, frame_times

    power = frame_powers(x, rate)
    times = offset + frame_times(power.shape[0], rate)
    inside = (times >= span[0]) & (times <= span[1])
    if not inside.any():
        inside = np.ones(times.size, dtype=bool)
    floor = time_floor(power)
    floor = np.minimum(floor, 2.0 * spectral_floor(floor, 7))  # a line on all the time is no floor
    matrix, bands = band_matrix(rate)
    widths = np.maximum(matrix.sum(axis=0), 1.0)
    density = _band_sums(floor, matrix) / widths
    base = np.maximum(density, density.max() * 10 ** (-_FLOOR_RANGE_DB / 10)) * widths
    per_band = _band_sums(power[inside], matrix)  # (frames, bands)
    stationary = per_band.mean(axis=0) / base - 1.0
    impulsive = per_band.max(axis=0) / base - 1.0
    stat_db = 10 * np.log10(np.maximum(stationary, 1e-3))
    imp_db = 10 * np.log10(np.maximum(impulsive, 1e-3))
    share = float(np.mean(stat_db >= 3.0))
    return (*_extend(stat_db, bands), *_extend(imp_db, bands), share)


def _band_sums(power: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``power @ matrix`` for a 0/1 matrix of adjacent bin ranges, by sums over the ranges.

    No BLAS call: its threads would spin beside the model's on a small machine.
    """
    rows = np.flatnonzero(matrix.any(axis=1))
    starts = np.array([int(np.flatnonzero(matrix[:, j])[0]) if matrix[:, j].any() else -1
                       for j in range(matrix.shape[1])])
    if rows.size == 0 or np.any(starts < 0) or rows.size != rows[-1] - rows[0] + 1 \
            or np.any(np.diff(starts) <= 0):
        return power @ matrix
    inside = power[..., rows[0]:rows[-1] + 1]
    return np.add.reduceat(inside, starts - rows[0], axis=-1)


def _extend(level_db: np.ndarray, bands: list[tuple[float, float]]) -> tuple[tuple[float, float], float]:
    """The best band widened over its neighbours within 10 dB of it (and at least 3 dB over the floor)."""
    best = int(np.argmax(level_db))
    lo = hi = best
    limit = max(level_db[best] - 10.0, 3.0)
    while lo > 0 and level_db[lo - 1] >= limit:
        lo -= 1
    while hi < len(bands) - 1 and level_db[hi + 1] >= limit:
        hi += 1
    return (bands[lo][0], bands[hi][1]), float(level_db[best])


def _envelope_db(envelopes: BandEnvelopes, band: tuple[float, float], offset: float):
    """The band's envelope (dB over its 20th percentile), smoothed over about two periods of its bandwidth."""
    envelope = envelopes.envelope(band)
    width = int(np.clip(round(ENVELOPE_RATE * 2.0 / max(band[1] - band[0], 1.0)), 1, ENVELOPE_RATE // 20))
    envelope = smooth(envelope, width)
    if envelope.size == 0:
        return np.zeros(0), np.zeros(0)
    floor = max(float(np.percentile(envelope, 20)), 1e-30)
    times = offset + (np.arange(envelope.size) + 0.5) / ENVELOPE_RATE
    return times, 10 * np.log10(np.maximum(envelope, 1e-30) / floor)


#: The type head's input, in order.
FEATURE_NAMES = (
    "n_lines", "top_prominence_db", "mean3_prominence_db", "comb", "comb_harmonics", "comb_coverage",
    "f0_log", "f0_is_tdma", "lowest_line_log", "highest_line_log", "line_active_share", "line_level_db",
    "modulation_strength", "modulation_period_log", "repetition_strength", "repetition_period_log",
    "impulses_per_s", "impulse_regularity", "impulse_period_log",
    "stat_env_spread_db", "imp_env_crest_db", "imp_active_share", "excess_band_share",
    "stationary_level_db", "impulsive_level_db", "stat_band_low_log", "stat_band_high_log",
    "imp_band_low_log", "imp_band_high_log", "span_log", "steady_lines", "steady_top_prominence_db",
    *(f"octave{k}_{name}" for k in range(len(OCTAVE_BANDS)) for name in PROFILE_NAMES),
)


def features(analysis: Analysis) -> np.ndarray:
    """The type head's input vector (:data:`FEATURE_NAMES` order), float64, finite."""
    lines, comb = analysis.lines, analysis.comb
    prominences = sorted((line.prominence_db for line in lines), reverse=True)
    f0 = comb.fundamental_hz if comb else 0.0
    track_share = 0.0
    if analysis.line_track is not None:
        times, track = analysis.line_track
        inside = (times >= analysis.span_s[0]) & (times <= analysis.span_s[1])
        track_share = float(np.mean(track[inside] >= _DETECT_DB)) if inside.any() else 0.0
    span = max(analysis.span_s[1] - analysis.span_s[0], 1e-3)
    values = {
        "n_lines": np.log1p(len(lines)),
        "top_prominence_db": prominences[0] if prominences else 0.0,
        "mean3_prominence_db": float(np.mean(prominences[:3])) if prominences else 0.0,
        "comb": float(comb is not None),
        "comb_harmonics": np.log1p(len(comb.harmonics)) if comb else 0.0,
        "comb_coverage": comb.coverage if comb else 0.0,
        "f0_log": np.log(f0) if comb else 0.0,
        "f0_is_tdma": float(np.exp(-abs(np.log(f0 / 216.68)) / 0.01)) if comb else 0.0,
        "lowest_line_log": np.log(lines[0].frequency_hz) if lines else 0.0,
        "highest_line_log": np.log(lines[-1].frequency_hz) if lines else 0.0,
        "line_active_share": track_share,
        "line_level_db": analysis.extras.get("line_level_feature_db") if analysis.line_level_db is not None
        else -30.0,
        "modulation_strength": analysis.modulation.strength if analysis.modulation else 0.0,
        "modulation_period_log": np.log(analysis.modulation.period_s) if analysis.modulation else 0.0,
        "repetition_strength": analysis.repetition.strength if analysis.repetition else 0.0,
        "repetition_period_log": np.log(analysis.repetition.period_s) if analysis.repetition else 0.0,
        "impulses_per_s": np.log1p(analysis.impulses.size / span),
        "impulse_regularity": analysis.impulse_period.strength if analysis.impulse_period else 0.0,
        "impulse_period_log": np.log(analysis.impulse_period.period_s) if analysis.impulse_period else 0.0,
        "stationary_level_db": analysis.stationary_level_db,
        "impulsive_level_db": analysis.impulsive_level_db,
        "stat_band_low_log": np.log(max(analysis.stationary_band[0], 1.0)),
        "stat_band_high_log": np.log(max(analysis.stationary_band[1], 1.0)),
        "imp_band_low_log": np.log(max(analysis.impulsive_band[0], 1.0)),
        "imp_band_high_log": np.log(max(analysis.impulsive_band[1], 1.0)),
        "span_log": np.log(span),
        **{k: v for k, v in analysis.extras.items() if k in FEATURE_NAMES},
    }
    vector = np.array([float(values[name]) for name in FEATURE_NAMES])
    return np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class Fields:
    """What is reported for an event (recording times)."""

    start: float
    end: float
    frequencies_hz: tuple[float, ...]
    period_s: float | None
    level_db: float | None
    band_hz: tuple[float, float] | None


#: A click's reported span reaches this far (s) beyond its band's first and last burst.
_CLICK_EDGE_S = 0.01
#: ... and a train's this far (s) beyond its first and last impulse (a thump lasts tens of ms).
_TRAIN_EDGE_S = 0.03
#: Impulses a train needs before its period is reported for an event not typed as periodic.
_TRAIN_IMPULSES = 4


def describe_fields(analysis: Analysis, kind: str | None, line_probability: float | None = None,
                    max_frequencies: int = 12) -> Fields:
    """The reported fields of an event of type ``kind`` (None: decided from the measurements).

    ``line_probability`` -- the type head's highest probability of a buzz
    kind -- gives a comb's period when the top kind is not a buzz but not a
    periodic kind either.
    """
    has_lines = analysis.line_track is not None and bool(analysis.lines)
    if kind is None:  # no type head: lines when there are strong ones, impulses when the envelope is spiky
        if has_lines and analysis.lines and max(line.prominence_db for line in analysis.lines) >= 15.0:
            kind = "tdma_buzz" if analysis.comb is not None and len(analysis.comb.harmonics) >= 5 else "tonal"
        elif analysis.extras.get("imp_env_crest_db", 0.0) >= 15.0 and analysis.extras.get("imp_active_share", 1.0) < 0.3:
            kind = "periodic_ticks" if analysis.impulse_period is not None else "clicks"
        else:
            kind = "noise_am"
    line_kind = kind in LINE_TYPES
    # Prominent lines are reported whatever the kind: they are in the event (a tone beside ticks).
    frequencies = report_frequencies(analysis.lines, analysis.comb, max_frequencies) if has_lines else ()
    period = None
    buzz_likely = line_probability is not None and line_probability >= 0.3 and kind not in (
        "periodic_ticks", "thumps", "noise_am")
    comb = analysis.comb
    if comb is not None and (kind in ("tdma_buzz", "packet_buzz") or (buzz_likely and len(comb.harmonics) >= 4)):
        period = 1.0 / comb.fundamental_hz
    elif kind in ("periodic_ticks", "thumps"):
        chosen = analysis.band_train or analysis.impulse_period or analysis.repetition
        period = chosen.period_s if chosen else None
    elif kind == "noise_am":
        period = analysis.modulation.period_s if analysis.modulation and analysis.modulation.strength >= 0.2 else None
    elif _regular_train(analysis):
        # whatever the type says, a train of impulses this regular repeats: its period is a finding
        period = (analysis.band_train or analysis.impulse_period).period_s
    span = None
    if line_kind and has_lines:
        times, track = analysis.line_track
        level = threshold_db(track, _DETECT_DB)
        span = crossing_span(track, times, level, analysis.line_frame_s / 2) if level is not None else None
        band = (min(frequencies or (analysis.lines[0].frequency_hz,)) - analysis.resolution_hz,
                max(frequencies or (analysis.lines[-1].frequency_hz,)) + analysis.resolution_hz)
        level_db = analysis.line_level_db
    elif kind in IMPULSIVE_TYPES:
        if kind == "clicks" and analysis.band_clicks.size:
            # the bursts that stand out most in their own octave band, not every onset in the impulsive band
            span = (float(analysis.band_clicks[0]) - _CLICK_EDGE_S, float(analysis.band_clicks[-1]) + _CLICK_EDGE_S)
        elif kind in ("periodic_ticks", "thumps") and analysis.band_train_times.size:
            # the train's own impulses, in the band where they are regular, not a stimulus's onsets
            span = (float(analysis.band_train_times[0]) - _TRAIN_EDGE_S,
                    float(analysis.band_train_times[-1]) + _TRAIN_EDGE_S)
        else:
            span = _impulse_span(analysis)
        band, level_db = analysis.impulsive_band, analysis.impulsive_level_db
    else:
        band, level_db = analysis.stationary_band, analysis.stationary_level_db
    if span is None and not line_kind or (span is None and kind not in IMPULSIVE_TYPES):
        envelope = analysis.impulsive_envelope_db if kind in IMPULSIVE_TYPES else analysis.stationary_envelope_db
        width = 1
        if period is not None and kind == "noise_am":
            width = int(period * ENVELOPE_RATE) + 1  # a gated floor is active through its off phases
        track = smooth(envelope, width)
        level = threshold_db(track, _DETECT_DB * 0.5 if kind == "noise_am" else _DETECT_DB)
        span = crossing_span(track, analysis.envelope_times, level, 0.5 / ENVELOPE_RATE) if level is not None else None
    start, end = span if span is not None else analysis.span_s
    start, end = max(0.0, start), max(start, end)
    return Fields(start, end, tuple(frequencies), period, level_db, (max(0.0, band[0]), max(band[0], band[1])))


def _regular_train(analysis: Analysis) -> bool:
    """A regular train in an octave band, or ``_TRAIN_IMPULSES`` impulses spread by at most 10 %.

    (The spread: interquartile range of the intervals over their median.)
    """
    if analysis.band_train is not None:
        return True
    return (analysis.impulse_period is not None and analysis.impulse_period.strength >= 0.9
            and analysis.impulses.size >= _TRAIN_IMPULSES)


def _impulse_span(analysis: Analysis) -> tuple[float, float] | None:
    """From the first impulse's rise to the last one's decay, on the impulsive band's envelope."""
    if analysis.impulses.size == 0:
        return None
    times, envelope = analysis.envelope_times, analysis.impulsive_envelope_db
    first = int(np.searchsorted(times, analysis.impulses[0]))
    last = int(np.searchsorted(times, analysis.impulses[-1]))
    first, last = min(first, times.size - 1), min(last, times.size - 1)
    level = max(_DETECT_DB * 0.5, envelope[first] - 20.0)
    i = first
    while i > 0 and envelope[i - 1] >= level and first - i < ENVELOPE_RATE // 10:
        i -= 1
    level = max(_DETECT_DB * 0.5, envelope[last] - 20.0)
    j = last
    while j < times.size - 1 and envelope[j + 1] >= level and j - last < ENVELOPE_RATE // 5:
        j += 1
    return float(times[i] - 0.5 / ENVELOPE_RATE), float(times[j] + 0.5 / ENVELOPE_RATE)

"""Line picking against the spectral floor, and the fundamental of a comb (buzz)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audio_artifacts.explain.spectra import spectral_floor

#: A line stands at least this far over the spectral floor (dB, per bin).
MIN_PROMINENCE_DB = 10.0
#: Width of the running median that is the floor under lines (Hz).
FLOOR_WIDTH_HZ = 160.0
#: Lines closer than this many bins are one line (the Hann main lobe is 4 bins wide).
_MERGE_BINS = 3
#: A peak this close (bins) to a line this much stronger (dB) is that line's window leakage, not a line.
_SKIRT_BINS, _SKIRT_DB = 30, 25.0
_OFF_COMB_SLOTS = 4


@dataclass(frozen=True)
class Line:
    """A spectral line: frequency (Hz, interpolated) and prominence over the floor (dB)."""

    frequency_hz: float
    prominence_db: float


def pick_lines(
    spectrum: np.ndarray, resolution_hz: float, *, min_hz: float = 20.0, max_hz: float | None = None,
    min_prominence_db: float = MIN_PROMINENCE_DB, floor_width_hz: float = FLOOR_WIDTH_HZ,
) -> tuple[list[Line], np.ndarray]:
    """Peaks of ``spectrum`` that stand ``min_prominence_db`` over its running-median floor.

    Parameters
    ----------
    spectrum : numpy.ndarray
        ``(bins,)`` power per bin, bin ``i`` at ``i * resolution_hz``.
    resolution_hz : float
        Bin spacing, Hz.
    min_hz, max_hz : float
        Search range (default up to the last bin).

    Returns
    -------
    lines : list of Line
        Ascending in frequency; frequencies refined by a parabola through the
        log power of the peak and its two neighbours.
    floor : numpy.ndarray
        ``(bins,)`` the floor under the lines.
    """
    spectrum = np.maximum(np.asarray(spectrum, dtype=np.float64), 1e-30)
    floor = spectral_floor(spectrum, int(round(floor_width_hz / resolution_hz)))
    level = 10.0 * np.log10(spectrum)
    prominence = level - 10.0 * np.log10(floor)
    lo = max(1, int(np.ceil(min_hz / resolution_hz)))
    hi = spectrum.size - 2 if max_hz is None else min(spectrum.size - 2, int(max_hz / resolution_hz))
    if hi <= lo:
        return [], floor
    core = slice(lo, hi + 1)
    peak = (level[core] >= level[lo - 1:hi]) & (level[core] > level[lo + 1:hi + 2]) & (prominence[core] >= min_prominence_db)
    candidates = np.flatnonzero(peak) + lo
    kept: list[int] = []
    for index in candidates[np.argsort(-level[candidates])]:  # strongest first
        if all(abs(index - k) > _MERGE_BINS for k in kept) and not any(
            abs(index - k) <= _SKIRT_BINS and level[k] - level[index] >= _SKIRT_DB for k in kept
        ):
            kept.append(int(index))
    lines = []
    for index in sorted(kept):
        a, b, c = level[index - 1], level[index], level[index + 1]
        denominator = a - 2 * b + c
        shift = 0.5 * (a - c) / denominator if denominator < 0 else 0.0
        lines.append(Line(float((index + np.clip(shift, -0.5, 0.5)) * resolution_hz), float(prominence[index])))
    return lines, floor


@dataclass(frozen=True)
class Comb:
    """A harmonic comb: fundamental (Hz) and the lines on it."""

    fundamental_hz: float
    harmonics: tuple[Line, ...]
    coverage: float  # matched harmonics / highest matched harmonic number


def find_comb(lines: Sequence[Line], resolution_hz: float, *, min_harmonics: int = 3,
              min_hz: float = 15.0, max_hz: float = 2500.0) -> Comb | None:
    """The harmonic series that explains most lines, or None.

    A candidate fundamental scores (lines on its harmonics) x (share of its
    harmonics 1..K present) squared, so half the fundamental (every other
    harmonic missing) scores a quarter of the true one, even for a comb of odd
    harmonics only (a square wave), and twice it (half the lines) half. The
    fundamental is then the least-squares fit ``sum(k f_k) / sum(k^2)``.
    """
    if len(lines) < min_harmonics:
        return None
    freqs = np.array([line.frequency_hz for line in lines])
    strongest = freqs[np.argsort([-line.prominence_db for line in lines])[:24]]
    ordered = np.sort(freqs)
    candidates = np.concatenate([(strongest[:, None] / np.arange(1, 11)[None, :]).ravel(),
                                 np.diff(ordered), np.diff(ordered[::2]) / 2.0 if ordered.size > 2 else []])
    candidates = np.unique(np.round(candidates[(candidates >= min_hz) & (candidates <= max_hz)], 2))
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for f0 in candidates:
        numbers, matched = _match(freqs, f0, resolution_hz)
        if matched.sum() < min_harmonics:
            continue
        coverage = np.unique(numbers[matched]).size / numbers[matched].max()
        score = matched.sum() * coverage**2
        if best is None or score > best[0] + 1e-9:
            best = (score, f0, numbers, matched)
    if best is None:
        return None
    _, f0, numbers, matched = best
    f0 = _sparse_multiple(lines, f0, resolution_hz, min_harmonics, max_hz)
    numbers, matched = _match(freqs, f0, resolution_hz)
    k, f = numbers[matched].astype(float), freqs[matched]
    f0 = float(np.sum(k * f) / np.sum(k * k))
    numbers, matched = _match(freqs, f0, resolution_hz)  # again with the refined fundamental
    if matched.sum() < min_harmonics:
        return None
    coverage = float(np.unique(numbers[matched]).size / numbers[matched].max())
    return Comb(f0, tuple(line for line, m in zip(lines, matched) if m), coverage)


#: A comb is moved up to a multiple of its fundamental when that grid holds this share of its power.
_MULTIPLE_POWER_SHARE = 0.9
#: ... among the lines up to this harmonic of the multiple.
_LOW_HARMONICS = 8


def _sparse_multiple(lines: Sequence[Line], f0: float, resolution_hz: float, min_harmonics: int,
                     max_hz: float) -> float:
    """``m * f0`` (the largest m in 2..6 that fits) when the comb of ``f0`` is really the comb of ``m * f0``.

    A dense line field (a stimulus's partials, aliased harmonics high up)
    can give a sub-multiple of the true fundamental more matches; it is the
    true one when the three strongest lines on the ``f0`` grid and nearly
    all their power up to its 8th harmonic (:data:`_MULTIPLE_POWER_SHARE`) lie on
    the ``m * f0`` grid.
    """
    freqs = np.array([line.frequency_hz for line in lines])
    power = 10 ** (np.array([line.prominence_db for line in lines]) / 10)
    numbers, matched = _match(freqs, f0, resolution_hz)
    if matched.sum() < min_harmonics:
        return f0
    strongest = np.flatnonzero(matched)[np.argsort(-power[matched])[:3]]
    for m in range(6, 1, -1):
        if m * f0 > max_hz:
            continue
        on = matched & (numbers % m == 0)
        low = matched & (freqs <= _LOW_HARMONICS * m * f0)  # where a comb's own harmonics are strongest
        if on.sum() >= min_harmonics and np.all(on[strongest]) \
                and power[on & low].sum() >= _MULTIPLE_POWER_SHARE * power[low].sum():
            return m * f0
    return f0


def _match(freqs: np.ndarray, f0: float, resolution_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic number of each line and whether it lies on a harmonic of ``f0``."""
    numbers = np.maximum(1, np.round(freqs / f0)).astype(int)
    tolerance = np.maximum(1.5 * resolution_hz, 0.001 * freqs)  # a pulse train's lines are exact
    return numbers, np.abs(freqs - numbers * f0) <= np.minimum(tolerance, 0.25 * f0)


def report_frequencies(lines: Sequence[Line], comb: Comb | None, limit: int) -> tuple[float, ...]:
    """At most ``limit`` frequencies: a comb's fundamental first, then the most prominent lines ascending.

    The four strongest lines off the comb are always kept, so a tone sounding
    with a buzz is not crowded out by the buzz's many harmonics; the other
    places go to the most prominent of the rest.
    """
    if comb is None:
        chosen = sorted(lines, key=lambda line: -line.prominence_db)[:limit]
        return tuple(sorted(line.frequency_hz for line in chosen))
    on_comb = {id(line) for line in comb.harmonics}
    off = sorted((line for line in lines if id(line) not in on_comb), key=lambda line: -line.prominence_db)
    harmonics = sorted((line for line in comb.harmonics
                        if abs(line.frequency_hz - comb.fundamental_hz) > 0.01 * comb.fundamental_hz),
                       key=lambda line: -line.prominence_db)
    # The strongest few lines off the comb are kept whatever the comb's strength, the rest by prominence.
    rest = sorted(off[_OFF_COMB_SLOTS:] + harmonics, key=lambda line: -line.prominence_db)
    chosen = (off[:_OFF_COMB_SLOTS] + rest)[:limit - 1]
    return (comb.fundamental_hz, *sorted(line.frequency_hz for line in chosen))

"""Per-octave-band profiles of an event: what stands out where, robust to a stimulus.

A stimulus (speech, music) is loud but smooth in time and not periodic; the
artifacts are impulsive (ticks, thumps, clicks), periodic (gated floor,
trains) or stationary. For each octave band the profile gives the envelope's
local contrast (peak over its running median: impulses), how many such
impulses and how regular, and the strength of its periodicity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from audio_artifacts.explain.envelopes import BandEnvelopes
from audio_artifacts.explain.periods import ENVELOPE_RATE, Periodicity, autocorrelation_period, interval_period

#: Octave bands (Hz) the profile is measured in; those above 0.45 x the rate read zeros.
OCTAVE_BANDS = ((44.0, 88.0), (88.0, 177.0), (177.0, 355.0), (355.0, 710.0), (710.0, 1420.0),
                (1420.0, 2840.0), (2840.0, 5680.0), (5680.0, 11360.0), (11360.0, 20000.0))
#: The measures per band, in order.
PROFILE_NAMES = ("contrast_db", "impulses_log", "regularity", "periodicity")
_CONTEXT_S = 0.2  # the running median an impulse is compared with


#: A band's impulses are a train when at least this many are this regular (``interval_period`` strength).
TRAIN_IMPULSES, TRAIN_REGULARITY = 4, 0.9
#: A click's band keeps its peaks this close (dB) to its highest one.
CLICK_WITHIN_DB = 6.0
_MIN_CONTRAST_DB = 10.0


@dataclass(frozen=True)
class OctaveProfile:
    """The per-band measures, and the most evident regular impulse train in any band (or None).

    ``train`` is the train of the band with the most impulses among those
    whose impulses are a train (:data:`TRAIN_IMPULSES`,
    :data:`TRAIN_REGULARITY`): ticks and thumps stand out of a stimulus in
    some band, and the band with the most of them shows the most of the train.
    """

    measures: np.ndarray  # (len(OCTAVE_BANDS), len(PROFILE_NAMES))
    train: Periodicity | None
    #: Times (recording s) of the peaks of the band whose envelope stands out most (a click's band)
    #: within :data:`CLICK_WITHIN_DB` of its highest peak: isolated bursts, not a stimulus's onsets.
    clicks: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Times (recording s) of the impulses of ``train``.
    train_times: np.ndarray = field(default_factory=lambda: np.zeros(0))


def octave_profile(envelopes: BandEnvelopes, offset_s: float, span_s: tuple[float, float]) -> OctaveProfile:
    """Measures inside ``span_s`` (recording seconds), per octave band; see :class:`OctaveProfile`.

    ``envelopes`` holds the event's audio (:class:`~audio_artifacts.explain.envelopes.BandEnvelopes`
    at ``ENVELOPE_RATE``), whose first sample is at ``offset_s``.
    """
    out = np.zeros((len(OCTAVE_BANDS), len(PROFILE_NAMES)))
    best: tuple[int, float, Periodicity] | None = None
    clicks, loudest, train_times = np.zeros(0), -np.inf, np.zeros(0)
    rate = envelopes.rate
    for k, (low, high) in enumerate(OCTAVE_BANDS):
        if low >= 0.45 * rate:
            continue
        envelope = envelopes.envelope((low, min(high, 0.45 * rate)))
        if envelope.size < 16:
            continue
        times = offset_s + (np.arange(envelope.size) + 0.5) / ENVELOPE_RATE
        inside = (times >= span_s[0]) & (times <= span_s[1])
        if inside.sum() < 16:
            inside[:] = True
        smoothing = max(1, int(round(ENVELOPE_RATE * 2.0 / (high - low))))
        if smoothing > 1:
            envelope = np.convolve(envelope, np.ones(smoothing) / smoothing, mode="same")
        level = 10 * np.log10(np.maximum(envelope, 1e-30))
        context = median_filter(level, size=int(_CONTEXT_S * ENVELOPE_RATE) | 1, mode="nearest")
        contrast = (level - context)[inside]
        peaks = _peaks(contrast, _MIN_CONTRAST_DB, int(0.04 * ENVELOPE_RATE))
        if contrast.max() > loudest:
            loudest = float(contrast.max())
            strong = _peaks(contrast, max(_MIN_CONTRAST_DB, loudest - CLICK_WITHIN_DB), int(0.04 * ENVELOPE_RATE))
            clicks = times[inside][strong]
        train = interval_period(peaks / ENVELOPE_RATE) if peaks.size >= 3 else None
        periodic = autocorrelation_period(envelope[inside], ENVELOPE_RATE, 0.06, 1.5)
        span = max(inside.sum() / ENVELOPE_RATE, 1e-3)
        out[k] = (float(contrast.max()), float(np.log1p(peaks.size / span)),
                  train.strength if train else 0.0, periodic.strength if periodic else 0.0)
        if train is not None and peaks.size >= TRAIN_IMPULSES and train.strength >= TRAIN_REGULARITY \
                and (best is None or (peaks.size, train.strength) > best[:2]):
            best = (int(peaks.size), train.strength, train)
            train_times = times[inside][peaks]
    return OctaveProfile(out, None if best is None else best[2], clicks, train_times)


def _peaks(values: np.ndarray, height: float, distance: int) -> np.ndarray:
    from audio_artifacts.explain.peaks import find_peaks

    return find_peaks(values, height=height, distance=max(1, distance))

"""Stimulus-aware detection: remove from a recording what the played stimulus explains.

An artifact is what a device adds independently of its input. A test system
knows what it played, so, as an audio analyzer judges distortion against its
own stimulus, the detector can judge the *residual*: the recording minus the
part of it the stimulus explains. ``explain_recording`` is a pure function
from (recording, stimulus) to (residual, `StimulusFit`), applied before
windowing, so the detector and the models stay unchanged.

Steps (all at the model rate, plain numpy)::

    align      whitened (PHAT-beta) cross-correlation over the plausible lags
    linear     transfer function H(f) per STFT bin (regularised cross-spectrum
               over the whole recording) + a broadband gain track g(t) in
               ``gain_block_s`` blocks (compression, AGC), iterated twice
    nonlinear  memoryless polynomial of the predicted output (orders 2..7:
               saturation harmonics and intermodulation), fitted globally
    refine     complex gain per (frequency, time) neighbourhood of
               ``refine_bins`` x ``refine_frames`` cells (slow per-band level
               changes, residual delay)
    subtract   residual = recording - prediction
    mask       input-driven cells: what is left ``mask_depth_db`` under a
               nearby loud prediction (broadband around stimulus changes:
               steps, onsets), and the harmonics 1f..``harmonics``f of the
               stimulus's own spectral lines; they become comfort noise at
               the residual's own floor (random phase, fixed seed)
    judge      (in the Detector) a window is an artifact when the model
               flags both the recording and the residual there

Under a quiet input (a silent stimulus) the residual is the recording
itself. A stimulus that does not explain the recording (wrong file) leaves
the recording unchanged too and says so in ``StimulusFit.warning``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import irfft, next_fast_len, rfft
from scipy.ndimage import (
    maximum_filter,
    maximum_filter1d,
    median_filter,
    uniform_filter,
    uniform_filter1d,
)


@dataclass(frozen=True)
class StimulusConfig:
    """Parameters of the stimulus-aware residual (defaults for 32 kHz; times in seconds).

    Attributes
    ----------
    max_latency_s : float
        Lags searched on each side of the stimulus file's start (the
        recording may also start anywhere inside a longer stimulus file).
    align_seconds : float
        At most this much of the recording is used to find the lag.
    frame_s, hop_s : float
        STFT frame and hop (Hann, 75 % overlap: exact reconstruction).
    gain_block_s : float
        Length of the blocks of the broadband gain track (compression).
    nonlinear_orders : int
        Highest order of the saturation polynomial (1 = linear only).
    refine_bins, refine_frames : int
        Size of the neighbourhoods of the local complex gain refinement.
    mask_depth_db, mask_bins, mask_frames : float, int, int
        A cell counts as input-driven when its residual lies more than
        ``mask_depth_db`` below the strongest prediction within +-``mask_bins``
        bins and +-``mask_frames`` frames: what is left that far under a loud
        input component is the model's error or the device's own
        input-driven by-products (compression sidebands, intermodulation).
        A residual closer to (or above) the prediction is kept: an artifact
        loud enough to show next to the input.
    change_db, change_frames : float, int
        Frames (+-``change_frames``) where the stimulus's spectrum changes by
        more than ``change_db`` in one of 24 bands: the device's transients
        there are input-driven in every bin, up to ``mask_depth_db`` below
        the frame's strongest prediction.
    harmonics : int
        Multiples of each stimulus line treated as input-driven (1 = the line only).
    line_prominence_db : float
        How far a stimulus spectral peak must stand above its neighbourhood to be a line.
    mismatch_explained : float
        Below this fraction of explained power (in the stimulus's active frames)
        the stimulus is taken not to match the recording: the recording is
        judged unchanged and the row says so.
    silent_rms : float
        A stimulus whose RMS (digital) is below this is silent (a quiet measurement).
    """

    max_latency_s: float = 0.5
    align_seconds: float = 60.0
    frame_s: float = 0.064
    hop_s: float = 0.016
    gain_block_s: float = 0.01
    nonlinear_orders: int = 7
    refine_bins: int = 9
    refine_frames: int = 9
    mask_depth_db: float = 50.0
    mask_bins: int = 16
    mask_frames: int = 1
    change_db: float = 10.0
    change_frames: int = 4
    harmonics: int = 10
    line_prominence_db: float = 20.0
    mismatch_explained: float = 0.5
    silent_rms: float = 1e-6

    def __post_init__(self) -> None:
        if self.max_latency_s < 0 or self.align_seconds <= 0:
            raise ValueError("max_latency_s must be >= 0 and align_seconds > 0")
        if not 0 < self.hop_s <= self.frame_s / 4 + 1e-12:
            raise ValueError("hop_s must be positive and at most frame_s / 4 (exact reconstruction)")
        if self.nonlinear_orders < 1 or self.harmonics < 1:
            raise ValueError("nonlinear_orders and harmonics must be >= 1")
        if self.refine_bins < 1 or self.refine_frames < 1:
            raise ValueError("refine_bins and refine_frames must be >= 1")


@dataclass(frozen=True)
class StimulusFit:
    """What the stimulus explained in one recording.

    Attributes
    ----------
    offset_s : float
        Time in the stimulus file at which the recording starts (negative: the
        recording started before the stimulus file); 0 for a silent stimulus.
    alignment_snr_db : float or None
        Height of the cross-correlation peak over the spread of the others.
    explained : float or None
        Fraction of the recording's power (in the stimulus's active frames)
        that the stimulus explains, in [0, 1]; None for a silent stimulus.
    thd_percent : float or None
        Total harmonic distortion (2f..10f re f) of the recording at the
        stimulus's dominant line, when the stimulus is a steady or stepped tone.
    lines_hz : tuple of float
        The stimulus's dominant line frequencies (at most 8, strongest first).
    silent : bool
        The stimulus is silent: the residual is the recording.
    warning : str or None
        Why the residual could not be used (then it is the recording itself).
    """

    offset_s: float
    alignment_snr_db: float | None
    explained: float | None
    thd_percent: float | None
    lines_hz: tuple[float, ...]
    silent: bool
    warning: str | None


# ---------------------------------------------------------------------------- STFT


def _stft(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """``(frames, frame // 2 + 1)`` complex STFT (Hann), ``frame`` zeros padded at both ends."""
    window = np.hanning(frame + 2)[1:-1]
    padded = np.pad(x, (frame, frame + hop - (x.size % hop)))
    frames = sliding_window_view(padded, frame)[::hop]
    return rfft(frames * window, axis=1)


def _istft(spec: np.ndarray, frame: int, hop: int, n: int) -> np.ndarray:
    """Inverse of `_stft` (weighted overlap-add), ``(n,)``."""
    window = np.hanning(frame + 2)[1:-1]
    frames = irfft(spec, frame, axis=1) * window
    total = (spec.shape[0] - 1) * hop + frame
    out = np.zeros(total)
    norm = np.zeros(total)
    for i in range(frame // hop):  # frames i, i + k, ... do not overlap each other: add them at once
        block = frames[i :: frame // hop]
        if block.size == 0:
            continue
        start = i * hop
        span = block.shape[0] * frame
        out[start : start + span] += block.reshape(-1)[: max(0, min(span, total - start))]
        norm[start : start + span] += np.tile(window**2, block.shape[0])[: max(0, min(span, total - start))]
    out = out[frame : frame + n]
    norm = norm[frame : frame + n]
    return out / np.maximum(norm, 1e-12)


# ---------------------------------------------------------------------------- steps


def find_offset(recording: np.ndarray, stimulus: np.ndarray, sample_rate: int,
                config: StimulusConfig = StimulusConfig()) -> tuple[int, float]:
    """Lag of the stimulus in samples: ``stimulus[t + lag]`` was played into ``recording[t]``.

    Whitened (PHAT-beta, beta = 0.7) cross-correlation, restricted to the bins
    where the stimulus has energy (within 60 dB of its strongest), searched
    from ``-max_latency_s`` to ``len(stimulus) - len(recording) + max_latency_s``.

    Returns
    -------
    lag : int
        Samples (negative: the recording starts before the stimulus file).
    snr_db : float
        The peak's height over the median absolute correlation of the other lags, dB.
    """
    x = np.asarray(recording, dtype=np.float64)[: int(config.align_seconds * sample_rate)]
    max_lag = int(round(config.max_latency_s * sample_rate))
    s = np.asarray(stimulus, dtype=np.float64)[: x.size + 2 * max_lag + max(0, stimulus.size - x.size)]
    s = s[: int((config.align_seconds + 2 * config.max_latency_s) * sample_rate) + x.size]
    n = next_fast_len(x.size + s.size + max_lag, real=True)
    X, S = rfft(x - x.mean(), n), rfft(s - s.mean(), n)
    freqs = np.arange(X.size) * sample_rate / n
    power = np.abs(S) ** 2
    smooth = uniform_filter1d(power, 64)
    band = (freqs >= 80.0) & (freqs <= min(12000.0, 0.45 * sample_rate)) & (smooth > smooth.max() * 1e-6)
    cross = np.where(band, np.conj(X) * S, 0.0)
    cross /= np.maximum(np.abs(cross), 1e-30) ** 0.7
    c = irfft(cross, n)  # c[d] = sum_t x[t] s[t + d], negative d at the end
    high = max(max_lag, s.size - x.size + max_lag)
    lags = np.concatenate([np.arange(-min(max_lag, n // 2), 0), np.arange(0, min(high, n // 2) + 1)])
    values = c[lags % n]
    best = int(np.argmax(values))
    spread = float(np.median(np.abs(values))) + 1e-30
    return int(lags[best]), float(20 * np.log10(max(values[best], 1e-30) / spread))


def _aligned(stimulus: np.ndarray, lag: int, n: int) -> np.ndarray:
    """``out[t] = stimulus[t + lag]`` for t < n, zeros where the stimulus has no sample."""
    out = np.zeros(n)
    first, last = max(0, -lag), min(n, stimulus.size - lag)
    if last > first:
        out[first:last] = stimulus[first + lag : last + lag]
    return out


def _gain_track(x: np.ndarray, y: np.ndarray, block: int) -> np.ndarray:
    """Least-squares gain of ``y`` onto ``x`` in blocks of ``block`` samples, interpolated, ``(n,)``."""
    count = int(np.ceil(x.size / block))
    pad = count * block - x.size
    xy = np.pad(x * y, (0, pad)).reshape(count, block).sum(axis=1)
    yy = np.pad(y * y, (0, pad)).reshape(count, block).sum(axis=1)
    # Blocks where the prediction is tiny carry no information about the gain: borrow from neighbours.
    weight = yy / (yy.max() + 1e-300)
    xy_s, yy_s = uniform_filter1d(xy, 3), uniform_filter1d(yy, 3)
    gain = xy_s / np.maximum(yy_s, 1e-300)
    reliable = weight > 1e-6
    if reliable.any():
        gain = np.interp(np.arange(count), np.flatnonzero(reliable), gain[reliable])
    else:
        gain = np.ones(count)
    centres = (np.arange(count) + 0.5) * block
    return np.interp(np.arange(x.size), centres, gain)


def _transfer(X: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Regularised per-bin transfer function ``sum X S* / (sum |S|^2 + lambda)``, ``(bins,)``."""
    cross = np.sum(X * np.conj(S), axis=0)
    power = np.sum(np.abs(S) ** 2, axis=0)
    return cross / (power + 1e-6 * power.max() + 1e-300)


def _polynomial_fit(x: np.ndarray, z: np.ndarray, orders: int) -> np.ndarray:
    """Least-squares memoryless polynomial (orders 1..``orders``) of ``z`` that best explains ``x``."""
    scale = float(np.max(np.abs(z))) or 1.0
    u = z / scale
    basis = np.empty((orders, u.size))
    power = u.copy()
    for k in range(1, orders + 1):  # u, u^2 - mean, u^3, ...: even orders without their DC
        basis[k - 1] = power - (power.mean() if k % 2 == 0 else 0.0)
        if k < orders:
            power = power * u
    gram = basis @ basis.T
    coef = np.linalg.solve(gram + 1e-12 * np.trace(gram) * np.eye(orders), basis @ x)
    return coef @ basis


def stimulus_lines(S: np.ndarray, prominence_db: float) -> np.ndarray:
    """Boolean ``(frames, bins)``: spectral lines of the stimulus (narrow peaks) per frame.

    A line is a local maximum that stands ``prominence_db`` over the median of
    its +-16 bins and lies within 50 dB of the frame's strongest bin.
    """
    power = np.abs(S) ** 2 + 1e-300
    level = 10 * np.log10(power)
    background = uniform_filter1d(level, 33, axis=1, mode="nearest")  # mean log level around (cheap)
    peak = level == maximum_filter1d(level, 5, axis=1)
    strong = level > level.max(axis=1, keepdims=True) - 50.0
    active = level.max(axis=1, keepdims=True) > level.max() - 60.0
    peak[:, :2] = False  # not a line: DC and the lowest bin
    return peak & strong & active & (level - background > prominence_db)


def _stimulus_changes(S: np.ndarray, change_db: float, bands: int = 24) -> np.ndarray:
    """Boolean ``(frames,)``: frames where a band of the stimulus rises or falls by ``change_db`` (onsets, steps).

    The bins are pooled into ``bands`` log-spaced bands; only bands within
    40 dB of the frame's strongest count, so a note starting in music or a
    tone stepping to a new frequency marks its frames, while noise far
    below does not.
    """
    power = np.abs(S) ** 2
    edges = np.unique(np.geomspace(2, S.shape[1], bands + 1).astype(int))
    band = np.stack([power[:, lo:hi].sum(axis=1) for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    level = 10 * np.log10(band + 1e-300)
    level = np.maximum(level, level.max() - 60.0)
    step = np.zeros(S.shape[0], dtype=bool)
    if S.shape[0] < 3:
        return step
    loud = np.maximum(level[2:], level[:-2]) > np.maximum(level[2:], level[:-2]).max(axis=1, keepdims=True) - 40.0
    jump = np.abs(level[2:] - level[:-2]) * loud
    step[1:-1] = jump.max(axis=1) > change_db
    return step


def _harmonic_cells(lines: np.ndarray, harmonics: int, spread: int = 2) -> np.ndarray:
    """Cells on 1..``harmonics`` times each line (+-``spread`` bins, wider with k), neighbour frames too."""
    bins = lines.shape[1]
    mask = np.zeros_like(lines)
    t_idx, f_idx = np.nonzero(lines)
    for k in range(1, harmonics + 1):
        target = f_idx * k
        keep = target < bins
        for d in range(-spread - k // 3, spread + k // 3 + 1):
            b = np.clip(target[keep] + d, 0, bins - 1)
            mask[t_idx[keep], b] = True
    return maximum_filter1d(mask.astype(np.uint8), 3, axis=0).astype(bool)


def _thd_percent(X: np.ndarray, S: np.ndarray, harmonics: int) -> float | None:
    """THD of the recording (2f..``harmonics``f re f, percent) when the stimulus is a (stepped) pure tone.

    A frame counts when one line (+-2 bins) holds 90 % of the stimulus frame's
    power; at least half of the active frames must. Median over those frames.
    """
    power_s = np.abs(S) ** 2
    total = power_s.sum(axis=1)
    active = total > total.max() * 1e-3
    peak = np.argmax(power_s, axis=1)
    bins = S.shape[1]
    idx = np.arange(bins)
    near = np.abs(idx[None, :] - peak[:, None]) <= 2
    tonal = active & ((power_s * near).sum(axis=1) >= 0.9 * total) & (peak >= 2)
    if tonal.sum() < max(4, 0.5 * active.sum()):
        return None
    power = np.abs(X) ** 2
    ratios = []
    for t in np.flatnonzero(tonal):
        f = int(peak[t])
        fundamental = power[t, f - 2 : f + 3].sum()
        harm = sum(power[t, k * f - 2 : k * f + 3].sum() for k in range(2, harmonics + 1) if k * f + 3 <= bins)
        if fundamental > 0:
            ratios.append(harm / fundamental)
    return float(100 * np.sqrt(np.median(ratios))) if ratios else None


# ---------------------------------------------------------------------------- the whole


def explain_recording(recording: np.ndarray, stimulus: np.ndarray, sample_rate: int,
                      config: StimulusConfig = StimulusConfig()) -> tuple[np.ndarray, StimulusFit]:
    """The part of ``recording`` the ``stimulus`` does not explain, and how it was found.

    Parameters
    ----------
    recording : numpy.ndarray
        ``(n,)`` mono samples at ``sample_rate``.
    stimulus : numpy.ndarray
        ``(m,)`` what the test system played, resampled to ``sample_rate``;
        any level, any start (found by `find_offset`).
    sample_rate : int
        Hz (the model rate).
    config : StimulusConfig

    Returns
    -------
    residual : numpy.ndarray
        ``(n,)`` float32: the recording without its input-driven part (the
        recording itself for a silent or non-matching stimulus).
    fit : StimulusFit
    """
    x = np.asarray(recording, dtype=np.float64)
    s = np.asarray(stimulus, dtype=np.float64)
    unchanged = x.astype(np.float32)
    if s.size == 0 or np.sqrt(np.mean(s**2)) < config.silent_rms:
        return unchanged, StimulusFit(0.0, None, None, None, (), True, None)
    lag, snr_db = find_offset(x, s, sample_rate, config)
    a = _aligned(s, lag, x.size)
    offset_s = round(lag / sample_rate, 6)
    if np.sqrt(np.mean(a**2)) < config.silent_rms:
        return unchanged, StimulusFit(offset_s, round(snr_db, 2), 0.0, None, (), False,
                                      "the stimulus is silent where the recording lies; judged on the recording")
    frame = int(round(config.frame_s * sample_rate))
    frame += frame % 2
    hop = max(1, int(round(config.hop_s * sample_rate)))
    while frame % hop:
        hop -= 1
    block = max(1, int(round(config.gain_block_s * sample_rate)))

    dc = float(np.mean(x))
    x = x - dc  # fits see no DC offset (it would leak into the even-order terms as rumble)
    X = _stft(x, frame, hop)
    S = _stft(a, frame, hop)
    H = _transfer(X, S)
    for _ in range(2):  # H from the compressed input, then the gain track from H's prediction, twice
        y = _istft(H * S, frame, hop, x.size)
        gain = _gain_track(x, y, block)
        H = H * _transfer(X, _stft(gain * y, frame, hop))
    y = _istft(H * S, frame, hop, x.size)
    z = _gain_track(x, y, block) * y
    if config.nonlinear_orders > 1:
        z = _polynomial_fit(x, z, config.nonlinear_orders)
    P = _stft(z, frame, hop)
    cross = uniform_filter(np.real(X * np.conj(P)), (config.refine_frames, config.refine_bins)) + \
        1j * uniform_filter(np.imag(X * np.conj(P)), (config.refine_frames, config.refine_bins))
    power = uniform_filter(np.abs(P) ** 2, (config.refine_frames, config.refine_bins))
    P = P * cross / (power + 1e-9 * power.max() + 1e-300)
    R = X - P

    stim_power = np.sum(np.abs(S) ** 2, axis=1)
    active = stim_power > stim_power.max() * 1e-4
    total = float(np.sum(np.abs(X[active]) ** 2)) + 1e-300
    explained = float(np.clip(1.0 - np.sum(np.abs(R[active]) ** 2) / total, 0.0, 1.0))
    lines = stimulus_lines(S, config.line_prominence_db)
    strongest = np.bincount(np.nonzero(lines)[1], minlength=S.shape[1])
    top = np.argsort(strongest)[::-1][:8]
    lines_hz = tuple(round(float(b * sample_rate / frame), 1) for b in top if strongest[b] >= 3)
    thd = _thd_percent(X, S, config.harmonics)
    if explained < config.mismatch_explained:
        return unchanged, StimulusFit(
            offset_s, round(snr_db, 2), round(explained, 4), None, lines_hz, False,
            f"the stimulus explains only {100 * explained:.0f} % of the recording's power "
            "(a different stimulus, or the device did not pass it); judged on the recording itself")

    floor = np.percentile(np.abs(R) ** 2, 20, axis=0) / -np.log(0.8)
    floor = median_filter(floor, size=17, mode="nearest")
    masking = maximum_filter(np.abs(P) ** 2, size=(2 * config.mask_frames + 1, 2 * config.mask_bins + 1))
    # Where the stimulus changes (onsets, steps, offsets), the device's transients spread over every bin.
    changes = _stimulus_changes(S, config.change_db)
    changes = maximum_filter1d(changes.astype(np.uint8), 2 * config.change_frames + 1).astype(bool)
    broadband = maximum_filter1d(np.max(np.abs(P) ** 2, axis=1), 2 * config.change_frames + 1)
    masking[changes] = np.maximum(masking[changes], broadband[changes, None])
    input_driven = masking * 10 ** (-config.mask_depth_db / 10) > np.abs(R) ** 2
    input_driven |= _harmonic_cells(lines, config.harmonics) & (np.abs(R) ** 2 > floor)
    magnitude = np.abs(R)
    clamp = input_driven & (magnitude**2 > floor)
    # Comfort noise: the floor's level with a random phase. Keeping the leftover's own phase would keep
    # it coherent from frame to frame, a faint line the model can still see. Fixed seed: same input, same residual.
    phase = np.exp(2j * np.pi * np.random.default_rng(0).random(R.shape))
    R = np.where(clamp, np.sqrt(floor) * phase, R)
    residual = (_istft(R, frame, hop, x.size) + dc).astype(np.float32)
    return residual, StimulusFit(offset_s, round(snr_db, 2), round(explained, 4),
                                 None if thd is None else round(thd, 3), lines_hz, False, None)


def residual_of_files(recording_path, stimulus_path, audio_config,
                      config: StimulusConfig = StimulusConfig()) -> tuple[np.ndarray, StimulusFit]:
    """`explain_recording` of two files, both read by `audio.load_audio` at ``audio_config``'s rate.

    Raises
    ------
    AudioLoadError
        When either file cannot be read (the error names the file).
    """
    from audio_artifacts.audio import load_audio

    recording = load_audio(recording_path, audio_config)
    stimulus = load_audio(stimulus_path, audio_config)
    return explain_recording(recording, stimulus, audio_config.sample_rate, config)

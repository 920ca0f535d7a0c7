"""A hearing aid in a test box: the device's own sound path and noise.

Signal path (pressures in pascal, levels in dB SPL re 20 uPa)::

    input + microphone noise -> WDRC / expansion gain g(t)
        -> prescription gain and receiver response H(f) -> output saturation
        -> + output-stage noise

Devices come in families (``FAMILIES``: fast-WDRC RIC, slow-AGC BTE, linear,
noise gate, high-power BTE, wideband, and two held out for the foreign split,
``FOREIGN_FAMILIES``), each a set of parameter ranges. The microphone noise
is pink (1/f below a corner), white or has a MEMS port hump; its equivalent
input noise (EIN) is 16-34 dB SPL; the prescription gain follows a drawn
audiogram (about 0.45 x hearing loss, less at low frequencies); the receiver
adds one or two resonances, a low-frequency vent / microphone high-pass and
a steep roll-off between 3 and 10 kHz. Compression is one broadband channel
with attack / release smoothing (0.5 ms - 1 s); expansion lowers the gain
for inputs below its kneepoint, which is what sets the floor of a quiet
recording on many devices. Loud inputs saturate the output stage (soft clip
with an even-order term): input-driven distortion, clean by definition.
Every parameter is drawn per device, so two units of one family still
differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

P_REF = 20e-6  # Pa, 0 dB SPL
_AUDIOGRAM_HZ = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0])
# Less gain than half the loss at low frequencies, as fitting rules do.
_GAIN_CORRECTION_DB = np.array([-18.0, -12.0, -5.0, 0.0, 2.0, 2.0, 0.0, -2.0, -4.0])
_DETECTOR_BLOCK_S = 0.002


@dataclass(frozen=True)
class FamilySpec:
    """Parameter ranges of one device family (uniform; ``*_s`` times log-uniform).

    Probabilities say how often a unit of the family has WDRC / expansion;
    ``mic_noise`` lists the microphone-noise spectra its units use.
    """

    description: str
    wdrc_probability: float
    compression_knee_db: tuple[float, float]
    compression_ratio: tuple[float, float]
    attack_s: tuple[float, float]
    release_s: tuple[float, float]
    expansion_probability: float
    expansion_knee_db: tuple[float, float]
    expansion_slope: tuple[float, float]
    expansion_max_db: tuple[float, float]
    expansion_tau_s: tuple[float, float]
    base_gain_db: tuple[float, float]
    resonance_hz: tuple[float, float]          # first receiver resonance
    rolloff_hz: tuple[float, float]
    rolloff_db_per_octave: tuple[float, float]
    highpass_hz: tuple[float, float]
    ein_db: tuple[float, float]
    mic_noise: tuple[str, ...]                 # "pink" (1/f corner), "white", "hump" (MEMS port resonance)
    mic_noise_corner_hz: tuple[float, float]
    output_noise_db: tuple[float, float]
    ospl_db: tuple[float, float]               # saturation: RMS of the largest undistorted sine, dB SPL
    clip_knee: tuple[float, float]             # soft-clip sharpness (2 soft ... 10 nearly hard)
    even_distortion: tuple[float, float]       # second-order (asymmetric) term at saturation


# One place for the families: which exist, their ranges, and which are held out.
FAMILIES: dict[str, FamilySpec] = {
    "ric_fast": FamilySpec(
        "receiver-in-canal, fast syllabic WDRC", 1.0, (40, 55), (1.5, 3.0), (0.001, 0.005), (0.02, 0.1),
        0.6, (30, 45), (1.3, 2.5), (10, 20), (0.08, 0.15), (10, 22), (2000, 3300), (5000, 8000), (24, 60),
        (150, 500), (18, 30), ("pink", "white", "hump"), (150, 600), (12, 26), (108, 120), (2, 4), (0.0, 0.05)),
    "bte_slow_agc": FamilySpec(
        "behind-the-ear, slow AGC", 1.0, (45, 65), (1.3, 2.5), (0.05, 1.0), (0.5, 1.0),
        0.5, (30, 45), (1.3, 2.5), (10, 20), (0.08, 0.15), (15, 28), (1800, 2800), (4000, 6000), (24, 60),
        (80, 250), (20, 32), ("pink",), (150, 600), (14, 28), (115, 128), (2, 4), (0.0, 0.05)),
    "linear": FamilySpec(
        "linear gain, peak clipping", 0.0, (40, 60), (1.0, 1.0), (0.001, 0.01), (0.03, 0.5),
        0.0, (30, 45), (1.0, 1.0), (0, 0), (0.1, 0.1), (10, 25), (1800, 3000), (4000, 7000), (24, 60),
        (100, 300), (20, 32), ("pink", "white"), (150, 600), (14, 28), (105, 118), (4, 10), (0.0, 0.1)),
    "noise_gate": FamilySpec(
        "strong expansion / noise gate (breathing floor)", 0.8, (45, 60), (1.5, 3.0), (0.002, 0.02), (0.05, 0.3),
        1.0, (40, 55), (2.0, 4.0), (25, 40), (0.05, 0.15), (10, 22), (2000, 3300), (5000, 8000), (24, 60),
        (100, 400), (18, 30), ("pink", "white"), (150, 600), (10, 22), (108, 120), (2, 4), (0.0, 0.05)),
    "bte_power": FamilySpec(
        "high-power behind-the-ear", 0.7, (50, 65), (1.5, 3.0), (0.002, 0.01), (0.05, 0.5),
        0.4, (30, 45), (1.3, 2.0), (10, 20), (0.08, 0.15), (30, 45), (1200, 2500), (3000, 5000), (36, 72),
        (60, 200), (22, 34), ("pink",), (150, 600), (24, 38), (125, 138), (2, 5), (0.02, 0.15)),
    "wideband": FamilySpec(
        "wideband receiver (roll-off 8-10 kHz)", 0.9, (40, 55), (1.3, 2.5), (0.001, 0.01), (0.03, 0.3),
        0.6, (30, 45), (1.3, 2.5), (10, 20), (0.08, 0.15), (8, 20), (2500, 4000), (8000, 10000), (24, 48),
        (100, 400), (16, 26), ("white", "pink"), (50, 200), (8, 20), (105, 118), (2, 4), (0.0, 0.05)),
    # Held out (foreign split only):
    "open_fit": FamilySpec(
        "open fit: large vent, lows leak out", 1.0, (35, 50), (1.5, 3.5), (0.003, 0.015), (0.06, 0.25),
        0.7, (30, 45), (1.3, 2.5), (10, 20), (0.08, 0.15), (8, 18), (2500, 3800), (6000, 9000), (24, 60),
        (600, 1500), (18, 28), ("hump",), (100, 400), (10, 20), (105, 115), (2, 4), (0.0, 0.05)),
    "cic_mems": FamilySpec(
        "completely-in-canal, MEMS microphone, very fast WDRC", 1.0, (45, 60), (2.0, 4.0), (0.0005, 0.003),
        (0.01, 0.06), 0.8, (35, 50), (1.5, 3.0), (15, 30), (0.06, 0.12), (12, 24), (3000, 5000), (6000, 10000),
        (24, 60), (100, 300), (24, 34), ("hump", "white"), (300, 1000), (16, 30), (105, 118), (2, 6), (0.02, 0.1)),
}
FOREIGN_FAMILIES: tuple[str, ...] = ("open_fit", "cic_mems")
TRAIN_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in FOREIGN_FAMILIES)


@dataclass(frozen=True)
class DeviceProfile:
    """Parameters of one simulated hearing aid (all drawn by ``draw_device``).

    Frequencies in Hz, levels in dB SPL, gains in dB, times in seconds.
    """

    device_id: str
    audiogram_db: tuple[float, ...]      # hearing loss at _AUDIOGRAM_HZ
    base_gain_db: float
    resonance_hz: tuple[float, ...]
    resonance_db: tuple[float, ...]
    resonance_q: tuple[float, ...]
    rolloff_hz: float                    # high-frequency roll-off corner, 3-10 kHz
    rolloff_db_per_octave: float
    highpass_hz: float                   # vent / microphone low-frequency corner
    ein_db: float                        # equivalent input noise, broadband
    mic_noise_corner_hz: float           # 1/f corner of the microphone noise
    output_noise_db: float               # output-stage noise, broadband at the coupler
    wdrc: bool
    compression_knee_db: float
    compression_ratio: float
    attack_s: float
    release_s: float
    expansion: bool
    expansion_knee_db: float
    expansion_slope: float               # output dB per input dB below the knee
    family: str = "legacy"
    expansion_max_db: float = 20.0       # most gain the expansion takes away
    expansion_tau_s: float = 0.1         # expansion detector time constant
    mic_noise_kind: str = "pink"         # "pink", "white" or "hump"
    mic_hump_hz: float = 0.0             # hump centre ("hump" microphones)
    mic_hump_db: float = 0.0
    ospl_db: float = 200.0               # output saturation (RMS of a sine), dB SPL; 200 = none
    clip_knee: float = 3.0
    even_distortion: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters."""
        return asdict(self)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def draw_device(rng: np.random.Generator, device_id: str, family: str | None = None) -> DeviceProfile:
    """Draw one device from a family's physical parameter ranges.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the device's own child generator).
    device_id : str
        Name written to the manifest.
    family : str, optional
        One of ``FAMILIES``; None draws one of ``TRAIN_FAMILIES`` uniformly.
    """
    if family is None:
        family = TRAIN_FAMILIES[int(rng.integers(len(TRAIN_FAMILIES)))]
    if family not in FAMILIES:
        raise ValueError(f"unknown device family {family!r}; known: {', '.join(FAMILIES)}")
    spec = FAMILIES[family]
    base = rng.uniform(15.0, 50.0)
    slope = rng.choice([0.0, rng.uniform(3.0, 15.0)], p=[0.25, 0.75])  # dB / octave above 500 Hz
    octaves = np.log2(_AUDIOGRAM_HZ / 500.0)
    audiogram = np.clip(base + slope * np.maximum(octaves, 0.0) + rng.normal(0.0, 3.0, octaves.size), 0.0, 90.0)
    first = _uniform(rng, spec.resonance_hz)
    rolloff = _uniform(rng, spec.rolloff_hz)
    resonance_hz = [first]
    if rng.random() < 0.7:
        second = first * rng.uniform(1.6, 2.3)
        if second < 1.1 * rolloff:
            resonance_hz.append(second)
    mic_kind = str(spec.mic_noise[int(rng.integers(len(spec.mic_noise)))])
    wdrc = bool(rng.random() < spec.wdrc_probability)
    expansion = bool(rng.random() < spec.expansion_probability)
    attack = _log_uniform(rng, spec.attack_s)
    return DeviceProfile(
        device_id=device_id,
        audiogram_db=tuple(float(v) for v in np.round(audiogram, 1)),
        base_gain_db=_uniform(rng, spec.base_gain_db),
        resonance_hz=tuple(float(f) for f in resonance_hz),
        resonance_db=tuple(float(rng.uniform(4.0, 12.0) if i == 0 else rng.uniform(2.0, 8.0)) for i in range(len(resonance_hz))),
        resonance_q=tuple(float(rng.uniform(1.5, 4.0)) for _ in resonance_hz),
        rolloff_hz=rolloff,
        rolloff_db_per_octave=_uniform(rng, spec.rolloff_db_per_octave),
        highpass_hz=_uniform(rng, spec.highpass_hz),
        ein_db=_uniform(rng, spec.ein_db),
        mic_noise_corner_hz=(_uniform(rng, spec.mic_noise_corner_hz) if mic_kind != "white"
                             else float(rng.uniform(20.0, 60.0))),
        output_noise_db=_uniform(rng, spec.output_noise_db),
        wdrc=wdrc,
        compression_knee_db=_uniform(rng, spec.compression_knee_db),
        compression_ratio=_uniform(rng, spec.compression_ratio) if wdrc else 1.0,
        attack_s=attack,
        release_s=max(attack, _log_uniform(rng, spec.release_s)),
        expansion=expansion,
        expansion_knee_db=_uniform(rng, spec.expansion_knee_db),
        expansion_slope=_uniform(rng, spec.expansion_slope) if expansion else 1.0,
        family=family,
        expansion_max_db=_uniform(rng, spec.expansion_max_db) if expansion else 0.0,
        expansion_tau_s=_log_uniform(rng, spec.expansion_tau_s),
        mic_noise_kind=mic_kind,
        mic_hump_hz=_uniform(rng, (2000.0, 6000.0)) if mic_kind == "hump" else 0.0,
        mic_hump_db=_uniform(rng, (4.0, 12.0)) if mic_kind == "hump" else 0.0,
        ospl_db=_uniform(rng, spec.ospl_db),
        clip_knee=_uniform(rng, spec.clip_knee),
        even_distortion=_uniform(rng, spec.even_distortion),
    )


def mic_noise_shape(device: DeviceProfile, freqs: np.ndarray) -> np.ndarray:
    """Microphone-noise power shape per frequency (any scale), ``(len(freqs),)``.

    1/f rise below the corner (tiny for "white" microphones), a broad port
    resonance for "hump" (MEMS) microphones; the microphone's own
    low-frequency vent and the ADC's DC blocker remove what lies under ~60 Hz.
    """
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1.0)
    shape = 1.0 + device.mic_noise_corner_hz / f
    if device.mic_noise_kind == "hump" and device.mic_hump_hz > 0:
        hump = 10.0 ** (device.mic_hump_db / 10.0) - 1.0
        shape = shape + hump / (1.0 + (np.log2(f / device.mic_hump_hz) / 0.5) ** 2)
    return shape / (1.0 + (60.0 / f) ** 4)


def saturate(device: DeviceProfile, pressure: np.ndarray) -> np.ndarray:
    """The output stage's input-driven nonlinearity (soft clip + even-order term) at the coupler.

    Transparent far below the saturation level ``ospl_db`` (a quiet input's
    noise passes unchanged); loud inputs are compressed toward the
    saturation peak and gain harmonics, more the louder they are. This is
    distortion of the input, not a device-made artifact.
    """
    if device.ospl_db >= 190.0:
        return pressure
    peak = P_REF * 10.0 ** (device.ospl_db / 20.0) * np.sqrt(2.0)
    u = pressure / peak
    if np.max(np.abs(u)) < 0.05:
        return pressure
    k = device.clip_knee
    y = u / (1.0 + np.abs(u) ** k) ** (1.0 / k)
    if device.even_distortion > 0:
        even = y * y
        y = y + device.even_distortion * (even - even.mean())
    return y * peak


def receiver_response_db(device: DeviceProfile, freqs: np.ndarray) -> np.ndarray:
    """Receiver + vent response in dB at ``freqs`` (Hz), ``(len(freqs),)``."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1.0)
    response = np.zeros_like(f)
    for centre, height, q in zip(device.resonance_hz, device.resonance_db, device.resonance_q):
        response += height / (1.0 + ((f - centre) / (centre / (2.0 * q))) ** 2)
    knee = 4.0  # sharpness of the corners
    response -= device.rolloff_db_per_octave / knee * np.log2(1.0 + (f / device.rolloff_hz) ** knee)
    response -= 12.0 / knee * np.log2(1.0 + (device.highpass_hz / f) ** knee)
    return response


def gain_response_db(device: DeviceProfile, freqs: np.ndarray) -> np.ndarray:
    """Full linear gain (prescription + receiver) in dB at ``freqs`` (Hz)."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1.0)
    prescription = 0.45 * np.asarray(device.audiogram_db) + _GAIN_CORRECTION_DB
    log_f = np.log2(np.clip(f, _AUDIOGRAM_HZ[0], _AUDIOGRAM_HZ[-1]))
    gain = device.base_gain_db + np.interp(log_f, np.log2(_AUDIOGRAM_HZ), prescription)
    return gain + receiver_response_db(device, f)


def _shaped_noise_spectrum(rng: np.random.Generator, n: int, sample_rate: int, level_db: float,
                           shape: np.ndarray) -> np.ndarray:
    """rfft of Gaussian noise with power shape ``shape`` (per bin) and broadband RMS ``level_db`` SPL."""
    bins = n // 2 + 1
    white = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    white[0] = white[0].real
    if n % 2 == 0:
        white[-1] = white[-1].real
    # Parseval for numpy's unnormalised rfft: sum |X|^2 ~ n * sum x^2 (two-sided).
    power = shape / np.mean(shape)
    rms = P_REF * 10.0 ** (level_db / 20.0)
    return white * np.sqrt(power) * rms * np.sqrt(n / 2.0)


def compression_gain_db(device: DeviceProfile, level_db: np.ndarray) -> np.ndarray:
    """Static WDRC gain change in dB for input levels (dB SPL)."""
    over = np.maximum(level_db - device.compression_knee_db, 0.0)
    return -(1.0 - 1.0 / device.compression_ratio) * over if device.wdrc else np.zeros_like(level_db)


def expansion_gain_db(device: DeviceProfile, level_db: np.ndarray) -> np.ndarray:
    """Static expansion gain change in dB (at most ``expansion_max_db``) for input levels (dB SPL)."""
    under = np.maximum(device.expansion_knee_db - level_db, 0.0)
    if not device.expansion:
        return np.zeros_like(level_db)
    return -np.minimum((device.expansion_slope - 1.0) * under, device.expansion_max_db)


def _gain_track(device: DeviceProfile, x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Time-varying gain (linear, ``(samples,)``) of compression and expansion.

    Compression follows the level with the device's attack / release; the
    expansion's detector is symmetric with its own time constant (50-150 ms), as squelch detectors are, so a quiet
    input's noise is not pumped by its own fluctuations while a gate still
    opens and closes with speech (a breathing floor).
    """
    block = max(1, int(round(_DETECTOR_BLOCK_S * sample_rate)))
    count = int(np.ceil(x.size / block))
    padded = np.pad(x, (0, count * block - x.size))
    power = np.mean(padded.reshape(count, block) ** 2, axis=1)
    initial = power[: max(1, int(0.05 / _DETECTOR_BLOCK_S))].mean()
    gain_db = np.zeros(count)
    if device.wdrc:
        attack = np.exp(-_DETECTOR_BLOCK_S / device.attack_s)
        release = np.exp(-_DETECTOR_BLOCK_S / device.release_s)
        smoothed = np.empty(count)
        state = initial
        for i, value in enumerate(power.tolist()):
            coef = attack if value > state else release
            state = coef * state + (1.0 - coef) * value
            smoothed[i] = state
        gain_db += compression_gain_db(device, 10.0 * np.log10(np.maximum(smoothed, 1e-30) / P_REF**2))
    if device.expansion:
        coef = np.exp(-_DETECTOR_BLOCK_S / device.expansion_tau_s)
        slow, _ = lfilter([1.0 - coef], [1.0, -coef], power, zi=[coef * initial])
        gain_db += expansion_gain_db(device, 10.0 * np.log10(np.maximum(slow, 1e-30) / P_REF**2))
    centres = (np.arange(count) + 0.5) * block
    return np.interp(np.arange(x.size), centres, 10.0 ** (gain_db / 20.0))


def render_device(device: DeviceProfile, stimulus_pa: np.ndarray | None, n_samples: int,
                  sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The device's output at the coupler for an input stimulus.

    Parameters
    ----------
    device : DeviceProfile
    stimulus_pa : numpy.ndarray or None
        ``(n_samples,)`` input pressure in Pa at ``sample_rate``; None for a
        quiet (internal-noise) measurement.
    n_samples : int
        Output length in samples.
    sample_rate : int
        Hz.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` float64 output pressure in Pa.
    """
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sample_rate)
    mic_shape = mic_noise_shape(device, freqs)
    mic_shape[0] = 0.0
    # The EIN is quoted over the usual 100 Hz - 10 kHz band; scale the shape so that band holds it.
    in_band = (freqs >= 100.0) & (freqs <= min(10000.0, sample_rate / 2))
    band_fraction = mic_shape[in_band].sum() / mic_shape.sum()
    mic = np.fft.irfft(
        _shaped_noise_spectrum(rng, n_samples, sample_rate, device.ein_db - 10 * np.log10(band_fraction), mic_shape),
        n_samples,
    )
    x = mic if stimulus_pa is None else mic + stimulus_pa
    if device.wdrc or device.expansion:
        x = x * _gain_track(device, x, sample_rate)
    spectrum = np.fft.rfft(x) * 10.0 ** (gain_response_db(device, freqs) / 20.0)
    out_shape = 10.0 ** (receiver_response_db(device, freqs) / 10.0)
    out_shape[0] = 0.0
    noise = _shaped_noise_spectrum(rng, n_samples, sample_rate, device.output_noise_db, out_shape)
    if stimulus_pa is None:  # the internal noise is far below saturation
        return np.fft.irfft(spectrum + noise, n_samples)
    return saturate(device, np.fft.irfft(spectrum, n_samples)) + np.fft.irfft(noise, n_samples)

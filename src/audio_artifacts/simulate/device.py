"""A hearing aid in a test box: the device's own sound path and noise.

Signal path (pressures in pascal, levels in dB SPL re 20 uPa)::

    input + microphone noise -> WDRC / expansion gain g(t)
        -> prescription gain and receiver response H(f) -> + output-stage noise

The microphone noise is white with a 1/f rise at low frequencies and an
equivalent input noise (EIN) of 18-32 dB SPL; the prescription gain follows a
drawn audiogram (about 0.45 x hearing loss, less at low frequencies); the
receiver adds one or two resonances, a low-frequency vent / microphone
high-pass and a steep roll-off between 4 and 10 kHz. Compression is one
broadband channel with attack / release smoothing; expansion lowers the gain
for inputs below its kneepoint, which is what sets the floor of a quiet
recording on many devices. Every parameter is drawn per device, so two units
of one "model" still differ.
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
    rolloff_hz: float                    # high-frequency roll-off corner, 4-10 kHz
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters."""
        return asdict(self)


def draw_device(rng: np.random.Generator, device_id: str) -> DeviceProfile:
    """Draw one device from physical parameter ranges.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the device's own child generator).
    device_id : str
        Name written to the manifest.
    """
    base = rng.uniform(15.0, 50.0)
    slope = rng.choice([0.0, rng.uniform(3.0, 15.0)], p=[0.25, 0.75])  # dB / octave above 500 Hz
    octaves = np.log2(_AUDIOGRAM_HZ / 500.0)
    audiogram = np.clip(base + slope * np.maximum(octaves, 0.0) + rng.normal(0.0, 3.0, octaves.size), 0.0, 90.0)
    first = rng.uniform(1800.0, 3300.0)
    resonance_hz = [first]
    if rng.random() < 0.7:
        resonance_hz.append(first * rng.uniform(1.6, 2.3))
    return DeviceProfile(
        device_id=device_id,
        audiogram_db=tuple(float(v) for v in np.round(audiogram, 1)),
        base_gain_db=float(rng.uniform(10.0, 22.0)),
        resonance_hz=tuple(float(f) for f in resonance_hz),
        resonance_db=tuple(float(rng.uniform(4.0, 12.0) if i == 0 else rng.uniform(2.0, 8.0)) for i in range(len(resonance_hz))),
        resonance_q=tuple(float(rng.uniform(1.5, 4.0)) for _ in resonance_hz),
        rolloff_hz=float(rng.uniform(4000.0, 10000.0)),
        rolloff_db_per_octave=float(rng.uniform(24.0, 60.0)),
        highpass_hz=float(rng.uniform(80.0, 400.0)),
        ein_db=float(rng.uniform(18.0, 32.0)),
        mic_noise_corner_hz=float(rng.uniform(150.0, 600.0)),
        output_noise_db=float(rng.uniform(12.0, 28.0)),
        wdrc=bool(rng.random() < 0.8),
        compression_knee_db=float(rng.uniform(40.0, 60.0)),
        compression_ratio=float(rng.uniform(1.3, 3.0)),
        attack_s=float(rng.uniform(0.001, 0.01)),
        release_s=float(rng.uniform(0.03, 0.5)),
        expansion=bool(rng.random() < 0.6),
        expansion_knee_db=float(rng.uniform(30.0, 45.0)),
        expansion_slope=float(rng.uniform(1.3, 2.5)),
    )


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
    """Static expansion gain change in dB (at most -20 dB) for input levels (dB SPL)."""
    under = np.maximum(device.expansion_knee_db - level_db, 0.0)
    return -np.minimum((device.expansion_slope - 1.0) * under, 20.0) if device.expansion else np.zeros_like(level_db)


def _gain_track(device: DeviceProfile, x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Time-varying gain (linear, ``(samples,)``) of compression and expansion.

    Compression follows the level with the device's attack / release; the
    expansion's detector is slow and symmetric (100 ms), as squelch detectors
    are, so a quiet input's noise is not pumped by its own fluctuations.
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
        coef = np.exp(-_DETECTOR_BLOCK_S / 0.1)
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
    f = np.maximum(freqs, 1.0)
    # 1/f rise below the corner; the microphone's own low-frequency vent and the
    # ADC's DC blocker remove what lies under ~60 Hz before the level detector.
    mic_shape = (1.0 + device.mic_noise_corner_hz / f) / (1.0 + (60.0 / f) ** 4)
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
    spectrum += _shaped_noise_spectrum(rng, n_samples, sample_rate, device.output_noise_db, out_shape)
    return np.fft.irfft(spectrum, n_samples)

"""Spectral front ends as ``nn.Module``s, so models take raw waveforms.

`LogMel` reproduces PANNs' log-mel numerics (32 kHz, Hann 1024, hop 320,
centred reflect padding, power spectrum, Slaney mel 50-14000 Hz, 10*log10
with amin 1e-10) but computes the STFT with an FFT instead of PANNs'
convolution with a stored DFT basis, which is several times cheaper on CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _hz_to_mel_slaney(freq: np.ndarray) -> np.ndarray:
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mel = freq / f_sp
    log_region = freq >= min_log_hz
    mel = np.where(log_region, min_log_mel + np.log(np.maximum(freq, 1e-12) / min_log_hz) / logstep, mel)
    return mel


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    freq = f_sp * mel
    log_region = mel >= min_log_mel
    return np.where(log_region, min_log_hz * np.exp(logstep * (mel - min_log_mel)), freq)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """Slaney-style, area-normalised mel filterbank (as librosa's default).

    Returns
    -------
    np.ndarray
        Shape ``(n_fft // 2 + 1, n_mels)``, float32, so that
        ``mel = power @ filterbank`` (the orientation of PANNs' ``melW``).
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}")
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz_slaney(
        np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    )
    spacing = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, fft_freqs.size), dtype=np.float64)
    for i in range(n_mels):
        lower = -ramps[i] / spacing[i]
        upper = ramps[i + 2] / spacing[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    return weights.T.astype(np.float32)


class PowerSpectrogram(nn.Module):
    """Power spectrogram by FFT: ``(batch, samples) -> (batch, frames, n_fft//2+1)``.

    Centred frames with reflect padding and a periodic Hann window, as PANNs.
    The FFT is taken on explicit frames (``unfold`` + ``rfft``), which exports
    to ONNX (opset >= 17, ``DFT``) and runs in ONNX Runtime.
    """

    def __init__(self, n_fft: int = 1024, hop_length: int = 320, center: bool = True) -> None:
        super().__init__()
        if n_fft <= 0 or hop_length <= 0:
            raise ValueError("n_fft and hop_length must be positive")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.center = center
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for an input of ``n_samples`` samples."""
        if self.center:
            return n_samples // self.hop_length + 1
        return (n_samples - self.n_fft) // self.hop_length + 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform
        if self.center:
            pad = self.n_fft // 2
            x = nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        frames = x.unfold(-1, self.n_fft, self.hop_length) * self.window
        spectrum = torch.fft.rfft(frames, dim=-1)
        return spectrum.real.square() + spectrum.imag.square()


class LogMel(nn.Module):
    """PANNs log-mel front end: ``(batch, samples) -> (batch, 1, frames, n_mels)`` in dB."""

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        amin: float = 1e-10,
    ) -> None:
        super().__init__()
        self.spectrogram = PowerSpectrogram(window_size, hop_size, center=True)
        self.amin = amin
        mel = slaney_mel_filterbank(sample_rate, window_size, mel_bins, fmin, fmax)
        self.register_buffer("melW", torch.from_numpy(mel), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        device = waveform.device.type
        if torch.is_autocast_enabled(device):
            # float32 under mixed precision: the power of a full-scale tone (~1e5)
            # overflows float16, and inf / NaN features would poison training
            with torch.autocast(device, enabled=False):
                return self._log_mel(waveform.float())
        return self._log_mel(waveform)

    def _log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        power = self.spectrogram(waveform)
        mel = power @ self.melW
        return (10.0 * torch.log10(torch.clamp(mel, min=self.amin))).unsqueeze(1)

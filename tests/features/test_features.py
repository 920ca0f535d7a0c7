"""The FFT front end reproduces PANNs' conv-STFT log-mel numerics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_artifacts.features import LogMel, PowerSpectrogram, slaney_mel_filterbank


def _conv_stft_power(waveform: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """PANNs' way: a convolution with a stored, windowed DFT basis."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
    angle = 2 * np.pi * np.outer(k, n) / n_fft
    real = torch.from_numpy((np.cos(angle) * window).astype(np.float32))[:, None, :]
    imag = torch.from_numpy((-np.sin(angle) * window).astype(np.float32))[:, None, :]
    padded = torch.nn.functional.pad(waveform[:, None, :], (n_fft // 2, n_fft // 2), mode="reflect")
    re = torch.nn.functional.conv1d(padded, real, stride=hop)
    im = torch.nn.functional.conv1d(padded, imag, stride=hop)
    return (re**2 + im**2).transpose(1, 2)


def test_power_spectrogram_matches_conv_stft() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 32000)
    ours = PowerSpectrogram(1024, 320)(x)
    ref = _conv_stft_power(x, 1024, 320)
    assert ours.shape == ref.shape == (2, 101, 513)
    torch.testing.assert_close(ours, ref, rtol=1e-3, atol=1e-2)


def test_logmel_matches_reference_numerics() -> None:
    torch.manual_seed(1)
    x = 0.1 * torch.randn(3, 16000)
    front = LogMel()
    ours = front(x)
    ref = 10 * torch.log10(torch.clamp(_conv_stft_power(x, 1024, 320) @ front.melW, min=1e-10))
    assert ours.shape == (3, 1, 51, 64)
    assert (ours[:, 0] - ref).abs().max().item() < 1e-3  # dB


def test_mel_filterbank_slaney_properties() -> None:
    fb = slaney_mel_filterbank(32000, 1024, 64, 50.0, 14000.0)
    assert fb.shape == (513, 64) and fb.dtype == np.float32
    freqs = np.linspace(0, 16000, 513)
    centres = freqs[fb.argmax(axis=0)]
    assert np.all(np.diff(centres) >= 0)  # ordered bands
    assert freqs[fb[:, 0] > 0].min() >= 50.0 - 1e-6
    assert freqs[fb[:, -1] > 0].max() <= 14000.0 + 1e-6
    # Slaney normalisation: each triangle has unit area (up to FFT-grid sampling)
    area = fb.sum(axis=0) * (freqs[1] - freqs[0])
    assert np.allclose(area, 1.0, atol=0.06)


def test_pure_tone_lands_in_the_right_mel_band() -> None:
    sr = 32000
    t = np.arange(sr) / sr
    tone = torch.from_numpy(np.sin(2 * np.pi * 3000 * t).astype(np.float32))[None]
    logmel = LogMel()(tone)[0, 0]
    fb = slaney_mel_filterbank(sr, 1024, 64, 50.0, 14000.0)
    expected_band = int(fb[round(3000 / (sr / 1024))].argmax())
    assert int(logmel.mean(0).argmax()) == expected_band


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        slaney_mel_filterbank(32000, 1024, 64, 100.0, 20000.0)
    with pytest.raises(ValueError):
        PowerSpectrogram(0, 320)

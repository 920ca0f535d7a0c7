"""Audio loading: formats, rates, bit depths, channels, resampling, bad input, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.audio import AudioConfig, load_audio, read_info, stream_audio, write_audio
from audio_artifacts.errors import AudioLoadError


def test_smoke_stereo_48k_wav_to_mono_32k(tmp_path):
    sr = 48000
    t = np.arange(sr * 2) / sr
    left = 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = write_audio(tmp_path / "a.wav", np.stack([left, 0.5 * left], axis=1), sr, "PCM_24")
    info = read_info(path)
    assert (info.sample_rate, info.channels, info.frames) == (sr, 2, 2 * sr)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == (64000,)
    rms = np.sqrt(np.mean(y[2000:-2000] ** 2))
    assert rms == pytest.approx(0.75 * 0.5 / np.sqrt(2), rel=1e-3)


def test_smoke_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="empty"):
        read_info(path)
    with pytest.raises(AudioLoadError, match="empty"):
        stream_audio(path, AudioConfig())

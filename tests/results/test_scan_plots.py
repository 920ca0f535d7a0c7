"""The scan picture: a real PNG of the right recording, with the right content."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from matplotlib.image import imread

from audio_artifacts.audio import write_audio
from audio_artifacts.plots import display_spectrogram, plot_scan
from audio_artifacts.results.schema import ScanResult

MODEL = {"name": "tiny", "version": "0.1"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_chunks(path):
    """(IHDR width, height) and the tEXt chunks of a PNG, read from its bytes."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    pos, size, texts = 8, None, {}
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            texts[key.decode("latin-1")] = rest[2:].split(b"\0", 2)[2].decode("utf-8")
        pos += 12 + length
    return size, texts


def tone_recording(path, seconds=20.0, sample_rate=48000, tone_hz=3000.0, tone_span=(6.0, 13.0)):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    inside = (t >= tone_span[0]) & (t < tone_span[1])
    x[inside] += 0.3 * np.sin(2 * np.pi * tone_hz * t[inside])
    return write_audio(path, x, sample_rate)


def result_for(path, probabilities, threshold=0.5, duration=20.0):
    starts = [i * 3.75 for i in range(len(probabilities))]
    windows = [{"start": s, "end": min(s + 5, duration), "probability": p} for s, p in zip(starts, probabilities)]
    return ScanResult.from_windows(path, windows=windows, threshold=threshold, model=MODEL,
                                   duration_s=duration, sample_rate=48000, channels=1)


def pink_pixels(image):
    """Pixels of the shaded flagged regions (red at alpha 0.2 over white)."""
    rgb = image[..., :3]
    return int(np.sum((rgb[..., 0] > 0.95) & (np.abs(rgb[..., 1] - 0.8) < 0.05) & (np.abs(rgb[..., 2] - 0.8) < 0.05)))


def test_plot_is_a_png_of_the_right_recording(tmp_path):
    audio = tone_recording(tmp_path / "unit7_V212-Tx_10dB.wav")
    result = result_for(str(audio), [0.1, 0.9, 0.95, 0.8, 0.2])
    out = plot_scan(audio, result, tmp_path / "plots" / "unit7.png")
    assert out.is_file() and out.stat().st_size > 20_000
    (width, height), texts = png_chunks(out)
    assert (width, height) == (1200, 650)
    assert texts["Title"].startswith("unit7_V212-Tx_10dB.wav — artifact (p = 0.95")
    assert texts["Source"] == str(audio)
    shaded = pink_pixels(imread(out))
    assert shaded > 2000

    quiet = result_for(str(audio), [0.1, 0.2, 0.1, 0.3, 0.2])
    quiet_png = plot_scan(audio, quiet, tmp_path / "quiet.png")
    assert "no_artifact (p = 0.30" in png_chunks(quiet_png)[1]["Title"]
    assert pink_pixels(imread(quiet_png)) < shaded / 50


def test_error_results_are_not_plotted(tmp_path):
    failure = ScanResult.failure("x.wav", "x.wav: empty file", MODEL, 0.5)
    with pytest.raises(ValueError, match="error result"):
        plot_scan(tmp_path / "x.wav", failure, tmp_path / "x.png")


def test_spectrogram_shows_the_tone_where_and_when_it_is(tmp_path):
    audio = tone_recording(tmp_path / "tone.wav", tone_hz=3000.0, tone_span=(6.0, 13.0))
    spec = display_spectrogram(audio)
    assert spec.frequencies_hz[0] == 0 and spec.frequencies_hz[-1] == 8000
    assert spec.duration_s == pytest.approx(20.0, abs=0.01)
    times = (np.arange(spec.db.shape[1]) + 0.5) * spec.column_seconds
    during = spec.db[:, (times > 7) & (times < 12)].mean(axis=1)
    before = spec.db[:, times < 5].mean(axis=1)
    peak = spec.frequencies_hz[np.argmax(during)]
    assert abs(peak - 3000) < 40
    assert during.max() - before[np.argmax(during)] > 30  # dB: the tone is only there in its span


def test_long_recordings_are_pooled_to_bounded_columns(tmp_path):
    audio = tone_recording(tmp_path / "long.flac", seconds=120.0, sample_rate=8000, tone_span=(60, 120))
    spec = display_spectrogram(audio, max_columns=100)
    assert 50 <= spec.db.shape[1] <= 100
    assert spec.db.shape[1] * spec.column_seconds == pytest.approx(120.0, rel=0.03)
    # the tone starts half way: the right half is louder at 3 kHz
    row = spec.db[np.argmin(np.abs(spec.frequencies_hz - 3000))]
    half = spec.db.shape[1] // 2
    assert row[half + 2:].min() > row[: half - 2].max() + 20


def test_recording_shorter_than_one_fft_frame(tmp_path):
    audio = write_audio(tmp_path / "blip.wav", np.full(200, 0.1), 16000)
    spec = display_spectrogram(audio)
    assert spec.db.shape == (257, 1) and np.isfinite(spec.db).all()

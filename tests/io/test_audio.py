"""Audio loading: formats, rates, bit depths, channels, resampling, bad input, streaming.

Every test writes its own files; nothing is mocked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tracemalloc
import sys

import numpy as np
import pytest
import soundfile as sf

from audio_artifacts.audio import AudioConfig, AudioInfo, load_audio, read_info, stream_audio, write_audio
from audio_artifacts.errors import AudioLoadError

OUT_RATE = 32000


def sine(rate: int, seconds: float, freq: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def tone_level_and_freq(y: np.ndarray, rate: int, trim: int = 2000) -> tuple[float, float]:
    """RMS (linear) and the frequency of the spectral peak, refined by parabolic interpolation."""
    seg = y[trim:-trim].astype(np.float64)
    rms = float(np.sqrt(np.mean(seg**2)))
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return rms, (k + delta) * rate / seg.size


def db(ratio: float) -> float:
    return 20 * np.log10(ratio)


# --------------------------------------------------------------------------- formats

# (extension, subtype, level tolerance in dB): lossless to round-off, lossy codecs looser.
FORMATS = [
    ("wav", "PCM_U8", 0.3),
    ("wav", "PCM_16", 0.01),
    ("wav", "PCM_24", 0.01),
    ("wav", "PCM_32", 0.01),
    ("wav", "FLOAT", 0.01),
    ("wav", "DOUBLE", 0.01),
    ("flac", "PCM_S8", 0.3),
    ("flac", "PCM_16", 0.01),
    ("flac", "PCM_24", 0.01),
    ("aiff", "PCM_16", 0.01),
    ("w64", "FLOAT", 0.01),
    ("ogg", "VORBIS", 0.5),
    ("ogg", "OPUS", 0.5),
    ("mp3", "MPEG_LAYER_III", 0.5),
]


def _supported(ext: str, subtype: str) -> bool:
    fmt = {"wav": "WAV", "flac": "FLAC", "aiff": "AIFF", "w64": "W64", "ogg": "OGG", "mp3": "MP3"}[ext]
    return fmt in sf.available_formats() and subtype in sf.available_subtypes(fmt)


@pytest.mark.parametrize("ext,subtype,tol_db", FORMATS, ids=[f"{e}-{s}" for e, s, _ in FORMATS])
def test_every_format_and_bit_depth_reads_as_mono_float32_at_32k(tmp_path, ext, subtype, tol_db):
    if not _supported(ext, subtype):
        pytest.skip(f"installed libsndfile cannot write {ext}/{subtype}")
    rate = 48000
    x = sine(rate, 1.0, 1000.0, 0.5)
    path = write_audio(tmp_path / f"tone.{ext}", np.stack([x, x], axis=1), rate, subtype)
    info = read_info(path)
    assert info.sample_rate == rate and info.channels == 2 and info.subtype == subtype
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    # Lossy decoders may add or drop a codec frame; lossless files are exact in length.
    if tol_db <= 0.3:
        assert y.size == OUT_RATE
    else:
        assert abs(y.size - OUT_RATE) < 0.1 * OUT_RATE
    rms, freq = tone_level_and_freq(y, OUT_RATE, trim=4000)
    assert abs(db(rms / (0.5 / np.sqrt(2)))) < tol_db
    assert freq == pytest.approx(1000.0, abs=2.0)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000])
def test_every_sample_rate_keeps_duration_level_and_frequency(tmp_path, rate):
    freq = 997.0
    path = write_audio(tmp_path / f"r{rate}.wav", sine(rate, 0.5, freq, 0.25), rate, "PCM_24")
    y = load_audio(path)
    assert abs(y.size - read_info(path).frames * OUT_RATE / rate) <= 1
    rms, found = tone_level_and_freq(y, OUT_RATE)
    assert abs(db(rms / (0.25 / np.sqrt(2)))) < 0.01
    assert found == pytest.approx(freq, abs=1.0)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_resampling_to_32k_keeps_frequency_and_level_precisely(tmp_path, rate):
    # 2 s, several tones across the passband; each keeps its frequency to 0.1 Hz and level to 0.01 dB.
    for freq in (100.0, 3150.0, 12500.0):
        path = write_audio(tmp_path / f"{rate}_{freq:.0f}.wav", sine(rate, 2.0, freq, 0.3), rate, "FLOAT")
        y = load_audio(path, AudioConfig(block_seconds=0.37))
        assert y.size == 2 * OUT_RATE
        rms, found = tone_level_and_freq(y, OUT_RATE, trim=3000)
        assert found == pytest.approx(freq, abs=0.1)
        assert abs(db(rms / (0.3 / np.sqrt(2)))) < 0.01


def test_resampling_removes_content_above_the_new_nyquist(tmp_path):
    # A 20 kHz tone at 48 kHz must not alias to 12 kHz at 32 kHz.
    path = write_audio(tmp_path / "hf.wav", sine(48000, 1.0, 20000.0, 0.5), 48000, "FLOAT")
    y = load_audio(path)
    assert db(np.sqrt(np.mean(y[2000:-2000] ** 2)) / (0.5 / np.sqrt(2))) < -80


def test_streamed_blocks_equal_one_shot_resampling(tmp_path):
    rng = np.random.default_rng(1)
    path = write_audio(tmp_path / "noise.wav", 0.1 * rng.standard_normal(44100 * 3), 44100, "FLOAT")
    small = list(stream_audio(path, AudioConfig(block_seconds=0.05)))
    large = load_audio(path, AudioConfig(block_seconds=30.0))
    assert len(small) > 50
    assert all(b.dtype == np.float32 and b.ndim == 1 and b.size > 0 for b in small)
    np.testing.assert_allclose(np.concatenate(small), large, atol=1e-6)


def test_output_rate_is_configurable(tmp_path):
    path = write_audio(tmp_path / "a.wav", sine(44100, 1.0, 440.0), 44100)
    y = load_audio(path, AudioConfig(sample_rate=16000))
    assert y.size == 16000
    assert tone_level_and_freq(y, 16000, trim=1000)[1] == pytest.approx(440.0, abs=0.5)


def test_native_rate_passes_samples_through_unchanged(tmp_path):
    x = np.random.default_rng(2).uniform(-0.9, 0.9, 32000 * 2).astype(np.float32)
    path = write_audio(tmp_path / "a.wav", x, 32000, "FLOAT")
    np.testing.assert_array_equal(load_audio(path, AudioConfig(block_seconds=0.3)), x)


# --------------------------------------------------------------------------- channels


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_any_channel_count_mean_and_index(tmp_path, channels):
    rate = 32000
    # channel c carries a DC-free tone at (c+1) * 500 Hz with amplitude 0.1
    data = np.stack([sine(rate, 0.5, 500.0 * (c + 1), 0.1) for c in range(channels)], axis=1)
    path = write_audio(tmp_path / f"c{channels}.wav", data, rate, "FLOAT")
    assert read_info(path).channels == channels
    mean = load_audio(path)
    np.testing.assert_allclose(mean, data.mean(axis=1), atol=1e-6)
    for c in range(channels):
        np.testing.assert_allclose(load_audio(path, AudioConfig(channel=c)), data[:, c], atol=1e-7)
    with pytest.raises(AudioLoadError, match=rf"channel {channels} requested but the file has {channels} channel"):
        stream_audio(path, AudioConfig(channel=channels))


@pytest.mark.parametrize("bad", [-1, "left", 1.5, True, None])
def test_channel_setting_is_validated(bad):
    with pytest.raises(ValueError, match="channel"):
        AudioConfig(channel=bad)


@pytest.mark.parametrize("field,value", [("sample_rate", 0), ("sample_rate", 44100.0), ("block_seconds", 0.0),
                                         ("block_seconds", float("nan"))])
def test_config_values_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        AudioConfig(**{field: value})


def test_read_info_fields(tmp_path):
    path = write_audio(tmp_path / "x.flac", np.zeros((22050 * 3, 2)), 22050, "PCM_24")
    info = read_info(path)
    assert info == AudioInfo(
        path=str(path), sample_rate=22050, channels=2, frames=66150, duration_s=3.0, format="FLAC", subtype="PCM_24"
    )


# --------------------------------------------------------------------------- bad input


def _wav_bytes(tmp_path) -> bytes:
    return write_audio(tmp_path / "ok.wav", sine(16000, 0.5, 440.0), 16000).read_bytes()


def assert_load_error(path, reason_pattern):
    """Both the header read and the stream fail with our error naming the file and the reason."""
    for call in (lambda: read_info(path), lambda: load_audio(path)):
        with pytest.raises(AudioLoadError) as caught:
            call()
        assert str(caught.value).startswith(f"{path}: ")
        assert caught.value.path == str(path)
        assert re.search(reason_pattern, caught.value.reason), caught.value.reason


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert_load_error(path, "empty file")


@pytest.mark.parametrize("content", [b"this is a text file, not audio\n" * 20, bytes(range(256)) * 8])
def test_not_audio(tmp_path, content):
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    assert_load_error(path, "not an audio file")


@pytest.mark.parametrize("keep", [4, 20, 40])
def test_truncated_header(tmp_path, keep):
    path = tmp_path / "cut.wav"
    path.write_bytes(_wav_bytes(tmp_path)[:keep])
    assert_load_error(path, "damaged or truncated")


def test_truncated_flac_stream_names_the_time(tmp_path):
    data = write_audio(tmp_path / "ok.flac", sine(16000, 2.0, 440.0), 16000).read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioLoadError, match=r"decoding failed after \d+\.\d{3} s"):
        load_audio(path)


def test_truncated_wav_data_is_an_error(tmp_path):
    # libsndfile would read what is there; a cut recording must not pass as a shorter healthy one.
    data = _wav_bytes(tmp_path)
    path = tmp_path / "half.wav"
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    assert_load_error(path, r"truncated file: the header promises \d+ bytes")


def test_unfinalised_streaming_wav_header_is_accepted(tmp_path):
    # Recorders that never rewrite the header leave a placeholder size; the audio is all there.
    data = bytearray(_wav_bytes(tmp_path))
    data_at = data.index(b"data")
    data[data_at + 4 : data_at + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_audio(path), load_audio(tmp_path / "ok.wav"))


def test_zero_frames(tmp_path):
    path = tmp_path / "silence.wav"
    with sf.SoundFile(str(path), "w", 16000, 1, subtype="PCM_16"):
        pass
    assert path.stat().st_size > 0
    assert_load_error(path, "no .*audio frames")


@pytest.mark.parametrize("bad_value,at_s", [(np.nan, 1.25), (np.inf, 0.5), (-np.inf, 2.999)])
def test_non_finite_samples_name_the_time(tmp_path, bad_value, at_s):
    rate = 16000
    x = sine(rate, 3.0, 440.0)
    x[int(round(at_s * rate))] = bad_value
    path = write_audio(tmp_path / "nan.wav", np.stack([np.zeros_like(x), x], axis=1), rate, "DOUBLE")
    with pytest.raises(AudioLoadError, match=rf"non-finite sample .* at {at_s:.3f} s"):
        load_audio(path, AudioConfig(block_seconds=0.7))


def test_directory(tmp_path):
    assert_load_error(tmp_path, "is a directory")


def test_missing_path(tmp_path):
    assert_load_error(tmp_path / "nope.wav", "does not exist")


def test_broken_symlink(tmp_path):
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "gone.wav")
    assert_load_error(link, "broken symbolic link")


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    assert_load_error(fifo, "not a regular file")


def test_unreadable_file(tmp_path):
    """A file the process may not read.

    Root ignores permission bits, so as root the check runs in a child process
    that keeps uid 0 but drops every capability (``setpriv``), which makes the
    permission bits apply again.
    """
    path = write_audio(tmp_path / "secret.wav", sine(16000, 0.5, 440.0), 16000)
    path.chmod(0)
    if os.geteuid() != 0:
        assert_load_error(path, "permission denied")
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and util-linux 'setpriv' is missing: cannot drop the capability to read anything")
    script = (
        "from audio_artifacts.audio import read_info\n"
        "from audio_artifacts.errors import AudioLoadError\n"
        "try:\n"
        f"    read_info({str(path)!r})\n"
        "except AudioLoadError as exc:\n"
        "    print('REASON', exc.reason)\n"
        "else:\n"
        "    print('READ')\n"
    )
    command = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("REASON permission denied"), done.stdout


def test_write_audio_validates_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        write_audio(tmp_path / "x.xyz", np.zeros(10), 16000)
    with pytest.raises(ValueError, match="subtype 'VORBIS' is not valid for WAV"):
        write_audio(tmp_path / "x.wav", np.zeros(10), 16000, "VORBIS")
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "x.wav", np.zeros((2, 2, 2)), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        write_audio(tmp_path / "x.wav", np.zeros(10), 0)


def test_write_audio_creates_folders_and_round_trips(tmp_path):
    x = np.random.default_rng(3).uniform(-1, 1, (1000, 3))
    path = write_audio(tmp_path / "a" / "b" / "x.wav", x, 8000, "DOUBLE")
    back, rate = sf.read(str(path))
    assert rate == 8000
    np.testing.assert_array_equal(back, x)


# --------------------------------------------------------------------------- memory

def test_streaming_memory_stays_bounded(tmp_path):
    """Stream 6 min of 48 kHz stereo: peak traced memory is a small fraction of the decoded size.

    numpy and soxr buffers are both seen by tracemalloc, so a reader that
    accumulated the recording (input or output) would show here.
    """
    rate, minutes = 48000, 6
    path = tmp_path / "long.wav"
    piece = (0.1 * np.random.default_rng(4).standard_normal((rate * 10, 2))).astype(np.float32)
    with sf.SoundFile(str(path), "w", rate, 2, subtype="PCM_16") as out:
        for _ in range(minutes * 6):  # written in 10 s pieces, never held whole
            out.write(piece)
    del piece
    n_out = n_blocks = 0
    tracemalloc.start()
    try:
        for block in stream_audio(path, AudioConfig(block_seconds=2.0)):
            n_out += block.size
            n_blocks += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n_out == minutes * 60 * OUT_RATE
    assert n_blocks >= minutes * 30
    decoded_mono = n_out * 4  # the whole mono float32 output: 46 MB
    decoded_input = minutes * 60 * rate * 2 * 4  # the decoded float32 stereo input: 138 MB
    assert peak < decoded_mono / 10, f"peak {peak / 1e6:.1f} MB while streaming {decoded_input / 1e6:.0f} MB"

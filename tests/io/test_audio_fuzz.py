"""Fuzzing the reader: headers that lie and mutated real files.

Every input must end as audio blocks or one `AudioLoadError` that names the
file: no other exception, no hang (a time bound per file) and no allocation
of what a header claims (a bound on traced memory per file and on the peak
RSS of the whole run).
"""

from __future__ import annotations

import io
import resource
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_artifacts.audio import AudioConfig, read_info, stream_audio
from audio_artifacts.errors import AudioLoadError

SECONDS_PER_FILE = 5.0
TRACED_MIB_PER_FILE = 64
RSS_GROWTH_MIB = 256
CONFIG = AudioConfig(sample_rate=16000, block_seconds=30.0)
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COUNTS: dict[str, int] = {}
RSS_BEFORE_MIB: list[float] = []


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exercise(path: Path) -> str:
    """Read ``path`` completely; returns ``"audio"`` or ``"error"`` and checks the bounds."""
    if not RSS_BEFORE_MIB:
        RSS_BEFORE_MIB.append(_peak_rss_mib())
    tracemalloc.start()
    started = time.monotonic()
    try:
        read_info(path)
        samples = 0
        for block in stream_audio(path, CONFIG):
            assert block.dtype == np.float32 and block.ndim == 1 and np.isfinite(block).all()
            samples += block.size
            assert time.monotonic() - started < SECONDS_PER_FILE, f"{path.name}: still decoding"
        outcome = "audio"
    except AudioLoadError as exc:
        assert str(exc).startswith(str(path) + ": ") and exc.reason, exc
        outcome = "error"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert elapsed < SECONDS_PER_FILE, f"{path.name}: {elapsed:.1f} s"
    assert peak < TRACED_MIB_PER_FILE * 2**20, f"{path.name}: {peak / 2**20:.0f} MiB allocated"
    COUNTS[outcome] = COUNTS.get(outcome, 0) + 1
    return outcome


def riff(channels: int, rate: int, bits: int, tag: int, data_size: int, payload: bytes) -> bytes:
    align = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag, channels, rate & 0xFFFFFFFF, (rate * align) & 0xFFFFFFFF, align, bits)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_size) + payload
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def rf64(channels: int, rate: int, bits: int, frames: int, payload: bytes) -> bytes:
    align = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * align) & 0xFFFFFFFF, align, bits)
    data_bytes = (frames * max(align, 1)) % 2**64
    ds64 = struct.pack("<QQQI", (data_bytes + 64) % 2**64, data_bytes, frames, 0)
    body = (b"WAVEds64" + struct.pack("<I", len(ds64)) + ds64 + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", 0xFFFFFFFF) + payload)
    return b"RF64" + struct.pack("<I", 0xFFFFFFFF) + body


channels = st.one_of(st.sampled_from([1, 2, 255, 1024, 1025, 65535]), st.integers(1, 65535))
rates = st.one_of(st.sampled_from([0, 1, 999, 1000, 8000, 48000, 10**9, 2**32 - 1]), st.integers(0, 2**32 - 1))
bits = st.sampled_from([0, 7, 8, 16, 24, 32, 64])
tags = st.sampled_from([0, 1, 2, 3, 6, 7, 0xFFFE])
data_sizes = st.one_of(st.sampled_from([0, 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
frames = st.one_of(st.sampled_from([0, 1, 2**31, 2**32, 2**62]), st.integers(0, 2**63 - 1))
payloads = st.integers(0, 40000).map(lambda n: np.random.default_rng(n).bytes(n))


@FUZZ
@given(channels, rates, bits, tags, data_sizes, payloads)
def test_riff_headers_that_lie(tmp_path: Path, ch: int, rate: int, b: int, tag: int, size: int, payload: bytes) -> None:
    path = tmp_path / "lying.wav"
    path.write_bytes(riff(ch, rate, b, tag, size, payload))
    exercise(path)


@FUZZ
@given(channels, rates, bits, frames, payloads)
def test_rf64_headers_that_lie(tmp_path: Path, ch: int, rate: int, b: int, n: int, payload: bytes) -> None:
    path = tmp_path / "lying.rf64"
    path.write_bytes(rf64(ch, rate, b, n, payload))
    exercise(path)


def _valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    x = (0.2 * rng.standard_normal((48000, 2))).astype(np.float32)
    made = {}
    for name, fmt, subtype in [("a.wav", "WAV", "PCM_16"), ("b.wav", "WAV", "FLOAT"), ("c.flac", "FLAC", "PCM_24"),
                               ("d.ogg", "OGG", "VORBIS"), ("e.aiff", "AIFF", "PCM_16"), ("f.wav", "WAVEX", "PCM_24")]:
        buffer = io.BytesIO()
        sf.write(buffer, x, 48000, format=fmt, subtype=subtype)
        made[name] = buffer.getvalue()
    return made


VALID = _valid_files()


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[name])
    kind = draw(st.sampled_from(["flips", "truncate", "header-field", "splice"]))
    if kind == "flips":
        for position in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=32)):
            data[position // 8] ^= 1 << (position % 8)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "header-field":  # a 2- or 4-byte field of the first 64 bytes set to an extreme
        offset = draw(st.integers(0, 60))
        width = draw(st.sampled_from([2, 4]))
        value = draw(st.sampled_from([0, 1, 2**(8 * width) - 1, 2**(8 * width - 1)]))
        data[offset:offset + width] = value.to_bytes(width, "little")
    else:  # a chunk of the file repeated or cut out
        a, b = sorted(draw(st.lists(st.integers(0, len(data)), min_size=2, max_size=2)))
        data = data[:a] + data[a:b] * draw(st.integers(0, 3)) + data[b:]
    return f"{kind}-{name}", bytes(data)


@FUZZ
@given(mutated())
def test_mutated_recordings(tmp_path: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    path = tmp_path / name
    path.write_bytes(data)
    exercise(path)


def test_the_fuzz_run_stayed_bounded_and_tried_both_outcomes() -> None:
    """Runs after the three fuzz tests (file order): RSS bounded, both outcomes seen."""
    if sum(COUNTS.values()) < 900:
        pytest.skip("run together with the fuzz tests above")
    growth = _peak_rss_mib() - RSS_BEFORE_MIB[0]
    print(f"fuzz: {sum(COUNTS.values())} files, {COUNTS}; peak RSS grew by {growth:.0f} MiB")
    assert growth < RSS_GROWTH_MIB
    assert COUNTS.get("audio", 0) > 10 and COUNTS.get("error", 0) > 10

"""Window datasets from whole recordings: windows, labels, caching, bad files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from audio_artifacts.audio import AudioConfig, load_audio, write_audio
from audio_artifacts.data.augment import Compose, Gain, ShortCrop, TimeShift
from audio_artifacts.data.dataset import WindowDataset, load_recordings
from audio_artifacts.data.labels import window_label
from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry, read_manifest, write_manifest
from audio_artifacts.errors import ManifestError
from audio_artifacts.windows import WindowSpec, window_starts

RATE = 8000  # model rate in these tests: small and quick
AUDIO = AudioConfig(sample_rate=RATE)
SPEC = WindowSpec()


def tone_recording(path, seconds, file_rate=16000, channels=1, seed=0, tone_from=None):
    """Noise, plus a 1 kHz tone from ``tone_from`` seconds to the end."""
    rng = np.random.default_rng(seed)
    n = int(seconds * file_rate)
    signal = rng.standard_normal(n) * 0.01
    if tone_from is not None:
        t = np.arange(n) / file_rate
        signal += 0.05 * np.sin(2 * np.pi * 1000 * t) * (t >= tone_from)
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    write_audio(path, data.astype(np.float32), file_rate)
    return path


@pytest.fixture()
def manifest(tmp_path):
    long = tone_recording(tmp_path / "long.wav", 12.0, channels=2, tone_from=6.0)
    short = tone_recording(tmp_path / "short.flac", 3.0, file_rate=44100, seed=1)
    clean = tone_recording(tmp_path / "clean.wav", 9.0, seed=2)
    entries = [
        RecordingEntry(long, 1, (ArtifactEvent("tonal", 6.0, 12.0, 10.0),), {}),
        RecordingEntry(short, 0, None, {}),
        RecordingEntry(clean, 0, (), {}),
    ]
    return write_manifest(tmp_path / "train.csv", entries, tmp_path)


def test_windows_labels_and_samples_follow_the_shared_rules(manifest):
    entries = read_manifest(manifest)
    recordings = load_recordings(entries, AUDIO)
    data = WindowDataset(recordings, SPEC, RATE)
    expected = [(r, int(s)) for r, rec in enumerate(recordings)
                for s in window_starts(rec.samples.size, SPEC, RATE)]
    assert len(data) == len(expected) == 3 + 1 + 3  # 12 s: 0, 3.75, 7; 3 s: one; 9 s: 0, 3.75, 4
    w = SPEC.window_samples(RATE)
    for i, (r, start) in enumerate(expected):
        item = data[i]
        assert item["recording"] == r and item["waveform"].shape == (w,)
        samples = recordings[r].samples
        n = samples.size
        end_s = min(start + w, n) / RATE
        assert item["label"].item() == window_label(start / RATE, end_s, entries[r])
        real = samples[start:start + w]
        np.testing.assert_array_equal(item["waveform"].numpy()[: real.size], real)
        assert not item["waveform"].numpy()[real.size:].any()  # zero padding of the short one
    # the long recording's tone starts at 6 s: windows at 0 s (0-5) no, 3.75 s and 7 s yes
    assert data.labels[:3].tolist() == [0, 1, 1]
    assert data.labels[3:].tolist() == [0, 0, 0, 0]
    # decoded as audio.load_audio does (stereo mean, resampled)
    np.testing.assert_array_equal(recordings[0].samples, load_audio(entries[0].path, AUDIO))


def test_recordings_are_decoded_once_and_cached(manifest, tmp_path):
    recordings = load_recordings(read_manifest(manifest), AUDIO, cache_dtype="float16")
    assert all(r.samples.dtype == np.float16 for r in recordings)
    for name in ("long.wav", "short.flac", "clean.wav"):
        (tmp_path / name).unlink()
    data = WindowDataset(recordings, SPEC, RATE)
    item = data[1]  # served from memory although the files are gone
    assert item["waveform"].dtype.is_floating_point and item["waveform"].abs().max() > 0


def test_bad_files_are_all_listed_before_training(manifest, tmp_path):
    entries = read_manifest(manifest)
    (tmp_path / "short.flac").unlink()
    (tmp_path / "clean.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.raises(ManifestError) as info:
        load_recordings(entries, AUDIO, source=manifest)
    message = str(info.value)
    assert str(manifest) in message
    assert "short.flac" in message and "clean.wav" in message and "long.wav" not in message
    assert "skip_bad_files" in message


def test_bad_files_skipped_with_a_warning_naming_them(manifest, tmp_path):
    entries = read_manifest(manifest)
    (tmp_path / "short.flac").unlink()
    with pytest.warns(UserWarning, match="skipping 1 unreadable file") as record:
        recordings = load_recordings(entries, AUDIO, skip_bad_files=True, source=manifest)
    assert "short.flac" in str(record[0].message)
    assert [r.entry.path.name for r in recordings] == ["long.wav", "clean.wav"]
    for path in ("long.wav", "clean.wav"):
        (tmp_path / path).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ManifestError, match="no readable recordings"):
            load_recordings(entries, AUDIO, skip_bad_files=True)


def test_time_shift_relabels_and_randomness_is_per_epoch(manifest):
    entries = read_manifest(manifest)
    recordings = load_recordings(entries, AUDIO)
    shift = TimeShift(p=1.0, max_shift_s=2.0)
    data = WindowDataset(recordings, SPEC, RATE, time_shift=shift,
                         augment=Compose([Gain(p=1.0)]), seed=3)
    w = SPEC.window_samples(RATE)
    seen_labels = set()
    for epoch in range(16):
        data.set_epoch(epoch)
        item = data[0]  # first window of the long recording, start 0 -> shifted into [0, 2] s
        start = round(item["start_s"] * RATE)
        assert 0 <= start <= 2 * RATE
        expected = window_label(start / RATE, (start + w) / RATE, entries[0])
        assert item["label"].item() == expected
        seen_labels.add(expected)
        # the same epoch and index give the same window again
        again = data[0]
        assert np.array_equal(again["waveform"].numpy(), item["waveform"].numpy())
    assert seen_labels == {0, 1}  # shifts across the tone onset change the label
    first = data[0]["waveform"].numpy()
    data.set_epoch(99)
    assert not np.array_equal(data[0]["waveform"].numpy(), first)
    # short recording: its 3 s stay at the start, the rest is padding its length marks
    short = data[3]
    nonzero = np.flatnonzero(short["waveform"].numpy())
    assert nonzero[-1] < 3 * RATE and short["length"].item() == 3 * RATE


def test_short_crops_have_their_own_length_label_and_only_real_samples(manifest):
    entries = read_manifest(manifest)
    recordings = load_recordings(entries, AUDIO)
    crop = ShortCrop(p=1.0, min_s=0.5, max_s=3.0)
    data = WindowDataset(recordings, SPEC, RATE, short_crop=crop, augment=Compose([Gain(p=1.0)]), seed=1)
    lengths, labels = [], set()
    for epoch in range(12):
        data.set_epoch(epoch)
        for i in range(len(data)):
            item = data[i]
            length = item["length"].item()
            waveform = item["waveform"].numpy()
            lengths.append(length)
            assert not np.any(waveform[length:])  # augmentation never reaches the padding
            r = item["recording"]
            start_s = item["start_s"]
            if length < SPEC.window_samples(RATE):
                assert 0.5 * RATE <= length <= 3 * RATE
                if entries[r].events is not None:
                    expected = window_label(start_s, start_s + length / RATE, entries[r])
                    assert item["label"].item() == expected
                    # an ambiguous crop (touching the tone's onset at 6 s, too little of it) is not made
                    end_s = start_s + length / RATE
                    assert not (expected == 0 and r == 0 and end_s > 6.0)
                labels.add(item["label"].item())
    assert min(lengths) < RATE and max(lengths) <= SPEC.window_samples(RATE)
    assert labels == {0.0, 1.0}

"""The dataset writer: determinism, manifests that read back, disjoint splits, formats on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import load_audio, read_info
from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.simulate.dataset import split_counts, write_dataset
from audio_artifacts.simulate.recording import AnalyzerConfig, SimulatorConfig, simulate_recording

SHORT = SimulatorConfig(duration_s=(1.0, 2.0))


@pytest.fixture(scope="module")
def split_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("split")
    write_dataset(out, 10, seed=3, config=SHORT, split=True)
    return out


def test_same_seed_same_files_different_seed_different(tmp_path: Path, dataset_digest) -> None:
    write_dataset(tmp_path / "a", 5, seed=1, config=SHORT)
    write_dataset(tmp_path / "b", 5, seed=1, config=SHORT, workers=2)
    write_dataset(tmp_path / "c", 5, seed=2, config=SHORT)
    a, b, c = (dataset_digest(tmp_path / name) for name in "abc")
    assert sum(name.endswith(".wav") for name in a) == 5 and "manifest.csv" in a  # + the stimuli (FLAC)
    assert a == b  # the worker count does not matter
    assert a["manifest.csv"] != c["manifest.csv"]
    assert all(a[name] != c.get(name) for name in a if name.endswith((".wav", ".flac")))


def test_manifests_read_back_with_consistent_labels(split_dataset: Path) -> None:
    for split, count in split_counts(10, True).items():
        entries = read_manifest(split_dataset / f"{split}.csv")
        assert len(entries) == count
        for entry in entries:
            assert entry.path.is_file() and entry.path.parent == split_dataset / "audio" / split
            assert entry.columns["split"] == split
            assert entry.label == int(bool(entry.events))
            info = read_info(entry.path)
            assert info.sample_rate == int(entry.columns["sample_rate"])
            assert info.channels == int(entry.columns["channels"])
            assert info.subtype == entry.columns["subtype"]
            assert info.duration_s == pytest.approx(float(entry.columns["duration_s"]), abs=1e-5)
            for event in entry.events:
                assert 0.0 <= event.start_s < event.end_s <= info.duration_s + 1e-6
            types = sorted({e.type for e in entry.events})
            assert entry.columns["artifact_types"] == ("+".join(types) if types else "none")


def test_splits_share_no_devices_or_seeds(split_dataset: Path) -> None:
    devices, seeds = {}, {}
    for split in ("train", "val", "test"):
        entries = read_manifest(split_dataset / f"{split}.csv")
        devices[split] = {e.columns["device"] for e in entries}
        seeds[split] = {e.columns["seed"] for e in entries}
    for one, other in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not devices[one] & devices[other]
        assert not seeds[one] & seeds[other]
    # The same device index in two splits is still a different device.
    a = simulate_recording(SHORT, 3, "train", 0, 1).device
    b = simulate_recording(SHORT, 3, "test", 0, 1).device
    assert a.device_id != b.device_id and a.to_dict() | {"device_id": ""} != b.to_dict() | {"device_id": ""}


def test_recording_is_reproducible_alone_from_its_seed_key() -> None:
    one = simulate_recording(SHORT, 5, "val", 3, 2)
    again = simulate_recording(SHORT, 5, "val", 3, 2)
    other = simulate_recording(SHORT, 5, "val", 4, 2)
    assert np.array_equal(one.samples, again.samples) and one.events == again.events
    assert one.seed_key == "5/1/3"
    assert one.samples.shape != other.samples.shape or not np.array_equal(one.samples, other.samples)


def test_analyzer_side_varies_rates_channels_formats_and_dc() -> None:
    analyzer = AnalyzerConfig(dc_probability=1.0, stereo_probability=0.5)
    config = SimulatorConfig(duration_s=(1.0, 1.5), analyzer=analyzer, conditions={})  # conditions: own tests
    recordings = [simulate_recording(config, 0, "all", i, 4) for i in range(24)]
    assert len({r.sample_rate for r in recordings}) >= 4
    assert {r.samples.shape[1] for r in recordings} == {1, 2}
    assert len({r.subtype for r in recordings}) == 3
    for r in recordings:
        # headroom before DC and the second channel's +-1 dB mismatch
        assert np.abs(r.samples).max() <= analyzer.headroom * 10 ** (1 / 20) + analyzer.dc_max
        assert abs(r.samples[:, 0].mean() - r.analyzer["dc"]) < 2e-4 + 0.1 * abs(r.analyzer["dc"])


def test_files_on_disk_hold_the_simulated_samples(tmp_path: Path) -> None:
    write_dataset(tmp_path, 3, seed=4, config=SHORT)
    for entry in read_manifest(tmp_path / "manifest.csv"):
        index = int(entry.path.stem.split("_")[1])
        recording = simulate_recording(SHORT, 4, "all", index, 1)
        from audio_artifacts.audio import AudioConfig

        mono = load_audio(entry.path, AudioConfig(sample_rate=recording.sample_rate))
        expected = recording.samples.mean(axis=1)
        assert np.max(np.abs(mono - expected)) < 1e-3
        assert json.loads(entry.columns["analyzer"])["full_scale_db"] > 100


def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        write_dataset(tmp_path, 2, seed=0, split=True)
    with pytest.raises(ValueError, match="duration_s"):
        SimulatorConfig(duration_s=(5.0, 2.0))
    with pytest.raises(ValueError, match="artifact_fraction"):
        SimulatorConfig(artifact_fraction=1.5)
    with pytest.raises(ValueError, match="unknown split"):
        simulate_recording(SHORT, 0, "dev", 0, 1)


def test_recording_level_puts_the_floor_anywhere_from_minus_120_to_minus_20_dbfs() -> None:
    config = SimulatorConfig(duration_s=(1.0, 1.0), short_fraction=0.0, artifact_fraction=0.0, conditions={},
                             stimuli=("quiet",), stimulus_weights=(1.0,))
    recordings = [simulate_recording(config, 7, "all", i, 8) for i in range(24)]
    floors = np.array([r.analyzer["floor_dbfs"] for r in recordings])
    assert floors.min() < -85.0 and floors.max() > -45.0 and floors.max() < -15.0
    assert {r.sample_rate for r in recordings} - {16000, 22050, 24000, 32000, 44100, 48000, 96000}  # 8 / 11.025 / 88.2 kHz
    for r in recordings:
        if r.subtype == "PCM_16":
            assert r.analyzer["floor_dbfs"] > -100.0  # above the dithered 16-bit LSB
        else:
            assert r.analyzer["dither"] == "none"

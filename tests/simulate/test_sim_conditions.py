"""Recording conditions are really in the signal where the manifest says; short recordings are truthful."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.simulate.artifacts import ArtifactConfig, sample_artifact
from audio_artifacts.simulate.dataset import write_dataset
from audio_artifacts.simulate.recording import (
    DEFAULT_CONDITIONS, AnalyzerConfig, SimulatorConfig, simulate_recording,
)

QUIET_ANALYZER = AnalyzerConfig(floor_dbfs=(-80.0, -70.0), pcm16_floor_dbfs=(-80.0, -70.0), dc_probability=0.0)


def _config(**conditions: float) -> SimulatorConfig:
    return SimulatorConfig(duration_s=(2.0, 3.0), short_fraction=0.0, artifact_fraction=1.0, conditions=conditions,
                           stimuli=("quiet", "tones", "pink"), stimulus_weights=(1.0, 1.0, 1.0),
                           analyzer=QUIET_ANALYZER)


def test_digital_silence_is_exact_zeros_over_the_stated_span() -> None:
    config = _config(silence_start=1.0, silence_end=1.0)
    for index in range(4):
        r = simulate_recording(config, 1, "train", index, 2)
        assert r.condition_names == "silence_end+silence_start" and r.analyzer["conditions"] == r.conditions
        t = np.arange(r.samples.shape[0]) / r.sample_rate
        head = t < r.conditions["silence_start"]["end_s"]
        tail = t >= r.conditions["silence_end"]["start_s"]
        assert head.any() and tail.any()
        assert np.all(r.samples[head] == 0.0) and np.all(r.samples[tail] == 0.0)
        middle = r.samples[~head & ~tail]
        assert np.mean(middle == 0.0) < 0.01  # the analyzer records elsewhere
        # No artifact where nothing was recorded.
        for e in r.events:
            assert e.start_s >= r.conditions["silence_start"]["end_s"] - 1e-6
            assert e.end_s <= r.conditions["silence_end"]["start_s"] + 1e-6


def test_dc_step_moves_the_mean_and_start_conditions_shape_the_start() -> None:
    for index in range(3):
        r = simulate_recording(_config(dc_step=1.0), 2, "train", index, 2)
        x = r.samples[:, 0].astype(np.float64)
        i = int(round(r.conditions["dc_step"]["time_s"] * r.sample_rate))
        width = int(0.2 * r.sample_rate)
        jump = x[i:i + width].mean() - x[i - width:i].mean()
        assert jump == pytest.approx(r.conditions["dc_step"]["step"], abs=0.15 * abs(r.conditions["dc_step"]["step"]))
    r = simulate_recording(_config(start_transient=1.0), 2, "train", 5, 2)
    x = r.samples[:, 0].astype(np.float64)
    c = r.conditions["start_transient"]
    assert x[0] == pytest.approx(c["amplitude"], abs=0.05 * abs(c["amplitude"]) + 1e-3)
    late = x[int(10 * c["tau_s"] * r.sample_rate):]
    assert abs(late.mean()) < 0.05 * abs(c["amplitude"])
    r = simulate_recording(_config(fade_in=1.0), 2, "train", 6, 2)
    x = r.samples[:, 0].astype(np.float64)
    fade = int(r.conditions["fade_in"]["length_s"] * r.sample_rate)
    first = np.sqrt(np.mean(x[: max(1, fade // 10)] ** 2))
    after = np.sqrt(np.mean(x[fade:fade + max(fade, r.sample_rate // 10)] ** 2))
    assert first < 0.3 * after


def test_conditions_column_in_the_manifest(tmp_path: Path) -> None:
    config = SimulatorConfig(duration_s=(1.0, 1.0), short_fraction=0.0,
                             conditions=dict.fromkeys(DEFAULT_CONDITIONS, 1.0))
    write_dataset(tmp_path / "all", 2, seed=0, config=config)
    write_dataset(tmp_path / "none", 2, seed=0, config=SimulatorConfig(duration_s=(1.0, 1.0), conditions={}))
    for entry in read_manifest(tmp_path / "all" / "manifest.csv"):
        assert entry.columns["conditions"] == "+".join(sorted(DEFAULT_CONDITIONS))
        assert entry.columns["family"] and entry.columns["stimulus_source"] in ("none", "synthetic")
    assert {e.columns["conditions"] for e in read_manifest(tmp_path / "none" / "manifest.csv")} == {"none"}


def test_short_recordings_have_the_drawn_length_and_truthful_labels() -> None:
    config = SimulatorConfig(duration_s=(8.0, 10.0), short_fraction=1.0, short_duration_s=(0.5, 1.0),
                             artifact_fraction=1.0, artifacts=ArtifactConfig(count_probabilities=(0.0, 0.0, 1.0)))
    for index in range(8):
        r = simulate_recording(config, 3, "train", index, 2)
        duration = r.samples.shape[0] / r.sample_rate
        assert 0.5 <= duration <= 1.0
        assert r.label == 1 and len({e.type for e in r.events}) == 3
        assert all(0.0 <= e.start_s < e.end_s <= duration + 1e-6 for e in r.events)
    mixed = SimulatorConfig(duration_s=(3.0, 3.0), short_fraction=0.5, short_duration_s=(0.5, 1.0),
                            artifact_fraction=0.0)
    lengths = {simulate_recording(mixed, 4, "all", i, 2).samples.shape[0] / 48000 for i in range(10)}
    assert len(lengths) > 1


@pytest.mark.parametrize("kind", ["periodic_ticks", "thumps", "noise_am", "clicks", "tdma_buzz"])
def test_artifacts_fit_a_half_second_recording(kind: str, clean_quiet) -> None:
    """Periods up to 1.3 s, intermittency and event lengths still give events inside 0.5 s, with the sound in them."""
    host = clean_quiet(5, seconds=0.5)
    fs = 16000
    for seed in range(6):
        artifact, events = sample_artifact(np.random.default_rng(seed), host.size, fs, host, artifact_type=kind,
                                           level_db=15.0, intermittent=bool(seed % 2))
        assert events, (kind, seed)
        x = artifact.astype(np.float64)
        inside = np.zeros(x.size, dtype=bool)
        for e in events:
            inside[int(e.start_s * fs):int(np.ceil(e.end_s * fs))] = True
        assert np.sum(x[inside] ** 2) > 0.99 * np.sum(x**2) > 0
        if kind == "noise_am":  # the gate opens at least once inside the event
            block = fs // 100
            power = (x[: x.size // block * block].reshape(-1, block) ** 2).mean(axis=1)
            assert np.mean(power > 0.1 * power.max()) > 0.1

"""Hard-negative stimuli are what their parameters say, and artifacts occur under every kind."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.simulate.levels import frame_length, frame_powers, frame_times
from audio_artifacts.simulate.recording import SimulatorConfig, simulate_recording
from audio_artifacts.simulate.stimuli import (
    HARD_NEGATIVES, P_REF, STIMULI, STIMULUS_WEIGHTS, active_rms, make_stimulus, render_stimulus,
)

FS = 16000


def test_stimulus_tables_and_levels() -> None:
    assert set(HARD_NEGATIVES) <= set(STIMULI) and len(STIMULI) == len(STIMULUS_WEIGHTS)
    assert 0.25 <= STIMULUS_WEIGHTS[STIMULI.index("quiet")] <= 0.35
    for kind in STIMULI[1:]:
        signal, meta = render_stimulus(np.random.default_rng(3), kind, 3 * FS, FS, 70.0)
        assert signal.shape == (3 * FS,) and np.isfinite(signal).all() and meta["stimulus_source"] == "synthetic"
        assert 20 * np.log10(active_rms(signal, FS) / P_REF) == pytest.approx(70.0, abs=0.1)
    # The old names still work without a bank (the synthetic generators).
    assert make_stimulus(np.random.default_rng(0), "speech", FS, FS, 60.0).shape == (FS,)
    assert make_stimulus(np.random.default_rng(0), "music", FS, FS, 60.0).shape == (FS,)
    with pytest.raises(ValueError, match="bank"):
        make_stimulus(np.random.default_rng(0), "ists", FS, FS, 60.0)


def test_stepped_tones_hold_one_line_for_each_step() -> None:
    """The spectral peak stays within one bin of the step's frequency for the whole step (0.2-5 s steps)."""
    resolution = FS / frame_length(FS)
    lengths = []
    for seed in range(6):
        signal, meta = render_stimulus(np.random.default_rng(seed), "tones", 12 * FS, FS, 70.0)
        powers = frame_powers(signal, FS)
        times = frame_times(powers.shape[0], FS)
        for start, end, freq in meta["steps"]:
            end = min(end, 12.0)
            inside = (times > start + 0.03) & (times < end - 0.03)
            if not inside.any():
                continue
            lengths.append(end - start)
            peaks = np.argmax(powers[inside], axis=1) * resolution
            assert np.all(np.abs(peaks - freq) <= resolution), (freq, peaks)
    assert min(lengths) < 0.4 and max(lengths) > 2.5  # short blips and lines of seconds


def test_multitone_lines_are_stationary() -> None:
    signal, meta = render_stimulus(np.random.default_rng(1), "multitone", 4 * FS, FS, 70.0)
    spectrum = frame_powers(signal, FS)
    resolution = FS / frame_length(FS)
    for start, end, freqs in meta["blocks"]:
        times = frame_times(spectrum.shape[0], FS)
        mean = spectrum[(times > start + 0.05) & (times < min(end, 4.0) - 0.05)].mean(axis=0)
        strongest = np.argmax(mean) * resolution
        assert min(abs(strongest - f) for f in freqs) <= resolution


def test_gated_noise_has_sharp_onsets() -> None:
    """Power jumps by > 20 dB from 4-1 ms before to 1-4 ms after each labelled onset
    (the resampler's band-limiting rings for about a millisecond around the edge)."""
    for seed in range(3):
        signal, meta = render_stimulus(np.random.default_rng(seed), "gated_noise", 4 * FS, FS, 70.0)
        assert meta["rise_s"] <= 0.001
        ms = FS // 1000
        for onset in meta["onsets_s"]:
            i = int(round(onset * FS))
            if i < 4 * ms or i + 4 * ms > signal.size:
                continue
            before = np.mean(signal[i - 4 * ms:i - ms] ** 2) + 1e-30
            after = np.mean(signal[i + ms:i + 4 * ms] ** 2)
            assert 10 * np.log10(after / before) > 20.0


def test_pulses_repeat_and_pumping_alternates() -> None:
    signal, meta = render_stimulus(np.random.default_rng(2), "pulses", 6 * FS, FS, 70.0)
    envelope = np.array([np.sum(signal[int(t * FS):int(t * FS) + int(0.01 * FS)] ** 2) for t in meta["onsets_s"]])
    between = np.array([np.sum(signal[int((t + meta["period_s"] * 0.5) * FS):][:int(0.01 * FS)] ** 2)
                        for t in meta["onsets_s"][:-1]])
    assert np.median(envelope) > 30 * np.median(between) + 1e-30
    pumped, meta = render_stimulus(np.random.default_rng(4), "pumping", 6 * FS, FS, 70.0)
    block = int(0.05 * FS)
    levels = 10 * np.log10(np.mean(pumped[: pumped.size // block * block].reshape(-1, block) ** 2, axis=1))
    assert np.percentile(levels, 90) - np.percentile(levels, 10) > meta["drop_db"] - 6.0


@pytest.mark.parametrize("kind", STIMULI)
def test_artifacts_occur_under_every_stimulus(kind: str) -> None:
    config = SimulatorConfig(duration_s=(1.0, 1.5), short_fraction=0.0, artifact_fraction=1.0,
                             stimuli=(kind,), stimulus_weights=(1.0,))
    recording = simulate_recording(config, 8, "train", 0, 2)
    assert recording.stimulus == kind and recording.label == 1
    duration = recording.samples.shape[0] / recording.sample_rate
    assert all(0.0 <= e.start_s < e.end_s <= duration + 1e-6 for e in recording.events)


def test_lookalike_artifacts_are_drawn_for_hard_negatives() -> None:
    """With lookalike_fraction 1, ticks or thumps come with pulses, a tonal line with stepped tones."""
    for kind, types in (("pulses", {"periodic_ticks", "thumps"}), ("tones", {"tonal"}), ("gated_noise", {"clicks"})):
        config = SimulatorConfig(duration_s=(1.5, 2.0), short_fraction=0.0, artifact_fraction=1.0,
                                 lookalike_fraction=1.0, stimuli=(kind,), stimulus_weights=(1.0,))
        for index in range(2):
            recording = simulate_recording(config, 9, "train", index, 2)
            assert {e.type for e in recording.events} & types, (kind, recording.events)

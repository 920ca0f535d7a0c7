"""Each artifact type is really in the signal where its events say, and not elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.simulate.artifacts import ARTIFACT_TYPES, ArtifactConfig, sample_artifact, sample_artifacts
from audio_artifacts.simulate.levels import band_power_track, estimate_floor, frame_powers, frame_times

SAMPLE_RATE = 16000  # the rate of the conftest recordings

IMPULSIVE = {"periodic_ticks", "thumps", "clicks"}


def _inside(times: np.ndarray, events) -> np.ndarray:
    mask = np.zeros(times.size, dtype=bool)
    for e in events:
        mask |= (times >= e.start_s) & (times <= e.end_s)
    return mask


def _away(times: np.ndarray, events, margin_s: float = 0.04) -> np.ndarray:
    mask = np.ones(times.size, dtype=bool)
    for e in events:
        mask &= (times < e.start_s - margin_s) | (times > e.end_s + margin_s)
    return mask


@pytest.mark.parametrize("kind", ARTIFACT_TYPES)
def test_band_power_rises_inside_events_only(kind: str, quiet_recording: np.ndarray) -> None:
    """In the artifact's level band, power rises by about its level inside the events, not outside."""
    rng = np.random.default_rng(11)
    level = 8.0
    intermittent = kind != "clicks"
    artifact, events = sample_artifact(rng, quiet_recording.size, SAMPLE_RATE, quiet_recording,
                                       artifact_type=kind, level_db=level, intermittent=intermittent)
    assert artifact.dtype == np.float32 and artifact.shape == quiet_recording.shape
    assert events and all(e.type == kind and e.level_db == level for e in events)
    assert all(0 <= e.start_s < e.end_s <= quiet_recording.size / SAMPLE_RATE + 1e-6 for e in events)
    low, high = events[0].params["level_band_hz"]
    clean = band_power_track(quiet_recording, SAMPLE_RATE, low, high)
    mixed = band_power_track(quiet_recording + artifact, SAMPLE_RATE, low, high)
    times = frame_times(clean.size, SAMPLE_RATE)
    inside, away = _inside(times, events), _away(times, events)
    rise = 10 * np.log10(mixed / clean)
    if kind in IMPULSIVE:
        assert rise[inside].max() > level - 3.0
    else:
        assert np.median(rise[inside]) > 3.0
    # Nothing of the artifact outside its events (frames well clear of them).
    if away.any():
        assert np.abs(rise[away]).max() < 0.5
    # The artifact alone is silent away from its events.
    alone = band_power_track(artifact.astype(np.float64), SAMPLE_RATE, 20.0, SAMPLE_RATE / 2)
    if away.any():
        assert alone[away].max() < 1e-6 * alone.max()


@pytest.mark.parametrize("kind", ["tonal", "tdma_buzz", "packet_buzz", "noise_am"])
def test_stationary_level_matches_definition(kind: str, quiet_recording: np.ndarray) -> None:
    """Mean artifact power in its level band over the active frames is level_db above the floor there."""
    floor = estimate_floor(quiet_recording, SAMPLE_RATE)
    for level in (3.0, 15.0):
        artifact, events = sample_artifact(np.random.default_rng(5), quiet_recording.size, SAMPLE_RATE, floor,
                                           artifact_type=kind, level_db=level, intermittent=False)
        low, high = events[0].params["level_band_hz"]
        power = band_power_track(artifact.astype(np.float64), SAMPLE_RATE, low, high).mean()
        ratio = 10 * np.log10(power / floor.band_power(low, high))
        # <= level: a floor band far below the rest counts as 25 dB under the loudest (the display range)
        assert ratio == pytest.approx(level, abs=1.0) or ratio > level


def test_tonal_line_sits_at_its_frequency(quiet_recording: np.ndarray) -> None:
    """The spectrum peaks at the labelled line frequency."""
    for seed in range(4):
        artifact, events = sample_artifact(np.random.default_rng(seed), quiet_recording.size, SAMPLE_RATE,
                                           quiet_recording, artifact_type="tonal", level_db=10.0, intermittent=False)
        spectrum = frame_powers(artifact.astype(np.float64), SAMPLE_RATE).mean(axis=0)
        freqs = np.fft.rfftfreq(2 * (spectrum.size - 1), 1 / SAMPLE_RATE)
        peak = freqs[int(np.argmax(spectrum))]
        lines = events[0].params["frequencies_hz"]
        assert min(abs(peak - f) for f in lines) < 0.02 * peak + 2 * SAMPLE_RATE / 512


def _envelope_autocorrelation(signal: np.ndarray, sample_rate: int, max_lag_s: float) -> np.ndarray:
    envelope = np.abs(signal) - np.abs(signal).mean()
    n = 1 << int(np.ceil(np.log2(2 * envelope.size)))
    spectrum = np.fft.rfft(envelope, n)
    corr = np.fft.irfft(np.abs(spectrum) ** 2, n)[: int(max_lag_s * sample_rate)]
    return corr / corr[0]


@pytest.mark.parametrize("kind, key", [("tdma_buzz", "frame_s"), ("packet_buzz", "interval_s")])
def test_buzz_repeats_at_its_radio_frame(kind: str, key: str, quiet_recording: np.ndarray) -> None:
    """The buzz's envelope autocorrelation peaks at the labelled TDMA frame / connection interval."""
    artifact, events = sample_artifact(np.random.default_rng(2), quiet_recording.size, SAMPLE_RATE,
                                       quiet_recording, artifact_type=kind, level_db=10.0, intermittent=False)
    period = events[0].params[key]
    corr = _envelope_autocorrelation(artifact.astype(np.float64), SAMPLE_RATE, 1.5 * period)
    lag = int(round(period * SAMPLE_RATE))
    assert corr[lag - 2: lag + 3].max() > 0.8
    assert corr[lag - 2: lag + 3].max() > corr[int(0.3 * lag): int(0.7 * lag)].max() + 0.3


@pytest.mark.parametrize("kind, key", [("periodic_ticks", "advertising_interval_s"), ("thumps", "rate_hz")])
def test_pulse_trains_repeat_at_their_period(kind: str, key: str, clean_quiet) -> None:
    """Pulse energy repeats at the labelled period (ticks: 0.5-1.3 s, thumps: 1-20 Hz)."""
    host = clean_quiet(3, seconds=8.0)
    for seed in (4, 5):
        artifact, events = sample_artifact(np.random.default_rng(seed), host.size, SAMPLE_RATE, host,
                                           artifact_type=kind, level_db=15.0, intermittent=False)
        value = events[0].params[key]
        period = 1.0 / value if key == "rate_hz" else value
        block = int(0.005 * SAMPLE_RATE)
        x = artifact.astype(np.float64)
        energy = (x[: x.size // block * block].reshape(-1, block) ** 2).sum(axis=1)
        energy -= energy.mean()
        corr = np.correlate(energy, energy, mode="full")[energy.size - 1:]
        lags = np.arange(corr.size) * 0.005
        window = (lags > 0.6 * period) & (lags < 1.4 * period)
        best = lags[window][int(np.argmax(corr[window]))]
        assert best == pytest.approx(period, rel=0.05, abs=0.011)
        assert corr[window].max() > 0.5 * corr[0]


def test_combined_artifacts_are_all_labelled(quiet_recording: np.ndarray) -> None:
    """sample_artifacts draws several types when asked to and labels each."""
    config = ArtifactConfig(count_probabilities=(0.0, 0.0, 1.0))
    artifact, events = sample_artifacts(np.random.default_rng(9), quiet_recording.size, SAMPLE_RATE,
                                        quiet_recording, config)
    assert len({e.type for e in events}) == 3
    assert [e.start_s for e in events] == sorted(e.start_s for e in events)
    assert np.abs(artifact).max() > 0


def test_bad_arguments_raise_value_errors(quiet_recording: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown artifact type"):
        sample_artifact(rng, quiet_recording.size, SAMPLE_RATE, quiet_recording, artifact_type="hum")
    with pytest.raises(ValueError, match="floor measured at"):
        sample_artifact(rng, 1000, 32000, estimate_floor(quiet_recording, SAMPLE_RATE))
    with pytest.raises(ValueError, match="unknown artifact types"):
        ArtifactConfig(weights={"hum": 1.0})
    with pytest.raises(ValueError, match="low"):
        ArtifactConfig(levels_db={"tonal": (10.0, 0.0)})

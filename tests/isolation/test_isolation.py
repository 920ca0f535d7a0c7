"""Isolation on simulated mixtures: a speech-like stimulus plus a known artifact, written as real WAVs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from audio_artifacts.audio import AudioConfig, load_audio, read_info, write_audio
from audio_artifacts.isolation import isolate_recording, plan_event
from audio_artifacts.isolation.measure import measure_lines
from audio_artifacts.results.schema import Event, ScanResult
from audio_artifacts.simulate.stimuli import make_stimulus

RATE = 48000
SECONDS = 12.0
EVENT = (3.0, 10.0)


def speech(seed=0, rms=0.05):
    x = make_stimulus(np.random.default_rng(seed), "speech_like", int(SECONDS * RATE), RATE, 65.0)
    return x * (rms / np.sqrt(np.mean(x ** 2)))


def inside(t):
    return (t >= EVENT[0]) & (t < EVENT[1])


def tonal_artifact(t):
    """A 1 kHz whine with a 3.1 kHz partial, 20 dB under the speech, during the event."""
    tone = 0.004 * np.sin(2 * np.pi * 1000.0 * t + 0.3) + 0.002 * np.sin(2 * np.pi * 3100.0 * t)
    return np.where(inside(t), tone, 0.0)


def tick_train(t, period=0.25):
    """A 2 ms click of a damped 4 kHz ring every ``period`` s during the event."""
    out = np.zeros(t.size)
    n = int(0.004 * RATE)
    ring = 0.2 * np.exp(-np.arange(n) / (0.0008 * RATE)) * np.sin(2 * np.pi * 4000 * np.arange(n) / RATE)
    for start in np.arange(EVENT[0] + 0.01, EVENT[1] - 0.01, period):
        i = int(round(start * RATE))
        out[i:i + n] += ring
    return out


def scanned(path, events):
    windows = [{"start": s, "end": s + 5, "probability": 0.9} for s in (0.0, 3.75, 7.0)]
    result = ScanResult.from_windows(str(path), windows=windows, threshold=0.5, model={"name": "m", "version": "1"},
                                     duration_s=SECONDS, sample_rate=RATE, channels=1)
    return dataclasses.replace(result, events=tuple(events))


def isolate(tmp_path, mixture, events):
    audio = write_audio(tmp_path / "mix.wav", mixture, RATE, subtype="FLOAT")
    isolated = isolate_recording(audio, scanned(audio, events), tmp_path / "out" / "mix.artifact.wav",
                                 tmp_path / "out" / "mix.residual.wav")
    config = AudioConfig(sample_rate=RATE)
    return isolated, load_audio(isolated.artifact, config), load_audio(isolated.residual, config)


def correlation(a, b):
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.mark.parametrize("reported", [(1000.0, 3100.0), (1012.0, 3080.0)], ids=["exact", "off-by-16-Hz"])
def test_tonal_artifact_is_isolated_from_speech(tmp_path, reported):
    t = np.arange(int(SECONDS * RATE)) / RATE
    truth = tonal_artifact(t)
    event = Event(*EVENT, 0.9, type="tonal", frequencies_hz=reported)
    isolated, artifact, residual = isolate(tmp_path, speech() + truth, [event])
    assert read_info(isolated.artifact).sample_rate == RATE and read_info(isolated.residual).sample_rate == RATE
    assert isolated.plans[0].method == "lines"
    span = inside(t)
    assert correlation(artifact[span], truth[span]) >= 0.9
    assert np.abs(artifact[~span]).max() == 0  # nothing outside the event
    # the residual is the recording minus the artifact (16-bit rounding aside)
    np.testing.assert_allclose(residual + artifact, speech() + truth, atol=2e-4)


def test_tonal_artifact_without_measured_lines_uses_the_fallback(tmp_path):
    t = np.arange(int(SECONDS * RATE)) / RATE
    truth = tonal_artifact(t)
    isolated, artifact, _ = isolate(tmp_path, speech(seed=1) + truth, [Event(*EVENT, 0.9)])  # an old row
    plan = isolated.plans[0]
    assert plan.method == "lines" and plan.measured_here
    assert any(abs(f - 1000) < 3 for f in plan.frequencies_hz)
    span = inside(t)
    assert correlation(artifact[span], truth[span]) >= 0.9


def test_periodic_tick_train_by_synchronous_averaging(tmp_path):
    t = np.arange(int(SECONDS * RATE)) / RATE
    truth = tick_train(t)
    event = Event(*EVENT, 0.9, type="periodic_ticks", period_s=0.2505)  # reported 0.2 % off
    isolated, artifact, _ = isolate(tmp_path, speech(seed=2) + truth, [event])
    assert isolated.plans[0].method == "periodic"
    span = inside(t)
    assert correlation(artifact[span], truth[span]) >= 0.8


def test_clicks_by_gated_transients(tmp_path):
    t = np.arange(int(SECONDS * RATE)) / RATE
    truth = np.zeros(t.size)
    for at in (4.1, 6.37, 8.9):  # irregular: no period
        i = int(at * RATE)
        truth[i:i + 48] = 0.3 * np.sign(np.sin(np.arange(48)))
    isolated, artifact, _ = isolate(tmp_path, speech(seed=3) + truth, [Event(*EVENT, 0.9, type="clicks")])
    assert isolated.plans[0].method == "transients"
    span = inside(t)
    assert correlation(artifact[span], truth[span]) >= 0.9


def test_plans_follow_the_event_fields():
    quiet = np.zeros(RATE)
    assert plan_event(Event(0, 1, 0.9, type="tdma_buzz", frequencies_hz=(217.0, 434.0), period_s=1 / 217),
                      quiet, RATE).method == "periodic"
    assert plan_event(Event(0, 1, 0.9, type="noise_am"), quiet, RATE).method == "none"
    assert plan_event(Event(0, 1, 0.9), quiet, RATE).method == "transients"  # nothing to find: gate


def test_measure_lines_finds_a_whine_in_noise():
    t = np.arange(4 * RATE) / RATE
    x = 0.01 * np.random.default_rng(5).standard_normal(t.size) + 0.003 * np.sin(2 * np.pi * 12000 * t)
    (found,) = measure_lines(x, RATE)
    assert found == pytest.approx(12000, abs=2)
    assert measure_lines(0.01 * np.random.default_rng(6).standard_normal(t.size), RATE) == ()

"""Stimulus-aware detection on real files: alignment, the residual, and the bundled model's verdicts.

Recordings are made by the simulator's device model (`simulate.device`),
written as WAV / FLAC at one rate; stimuli as a test system keeps them:
another rate, another level, another start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr

from audio_artifacts.audio import AudioConfig, load_audio, write_audio
from audio_artifacts.inference.stimulus import explain_recording, find_offset
from audio_artifacts.simulate.device import P_REF, draw_device, render_device

RATE = 32000


def _device_recording(stimulus_pa: np.ndarray, rate: int, seed: int, family: str = "linear",
                      peak: float = 0.14) -> np.ndarray:
    """``stimulus_pa`` through a freshly drawn device, scaled to a digital ``peak``, analyzer noise added."""
    rng = np.random.default_rng(seed)
    device = draw_device(rng, f"test-{seed}", family)
    out = render_device(device, stimulus_pa, stimulus_pa.size, rate, rng)
    return out / np.max(np.abs(out)) * peak + rng.standard_normal(out.size) * 1e-6


def _played(signal: np.ndarray, rate: int, to_rate: int, offset_s: float, gain: float) -> np.ndarray:
    """The test system's copy: resampled, ``offset_s`` of lead (negative: its start cut), another level."""
    lead = int(round(abs(offset_s) * rate))
    shifted = np.concatenate([np.zeros(lead), signal]) if offset_s >= 0 else signal[lead:]
    return soxr.resample(shifted * gain, rate, to_rate)


def _speechlike(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Noise bursts of syllable length with pauses (broadband, not periodic)."""
    envelope = np.repeat(rng.random(n // (rate // 8) + 1) > 0.4, rate // 8)[:n].astype(float)
    envelope = np.convolve(envelope, np.hanning(rate // 50) / (rate // 100), mode="same")
    return rng.standard_normal(n) * envelope


@pytest.mark.parametrize(("rec_rate", "stim_rate", "offset_s", "gain"),
                         [(48000, 44100, 0.073, 0.05), (44100, 48000, -0.041, 3.0), (16000, 48000, 0.012, 1.0)])
def test_alignment_finds_a_known_offset_at_another_rate_and_level(tmp_path: Path, rec_rate, stim_rate,
                                                                   offset_s, gain) -> None:
    rng = np.random.default_rng(3)
    n = 6 * rec_rate
    signal = _speechlike(rng, n, rec_rate) * P_REF * 10 ** (65 / 20)
    write_audio(tmp_path / "rec.wav", _device_recording(signal, rec_rate, seed=5, family="ric_fast"), rec_rate,
                "PCM_24")
    played = _played(signal / np.max(np.abs(signal)) * 0.5, rec_rate, stim_rate, offset_s, gain)
    write_audio(tmp_path / "stim.flac", played / max(1.0, np.max(np.abs(played)) / 0.9), stim_rate, "PCM_24")
    config = AudioConfig(sample_rate=RATE)
    recording, stimulus = load_audio(tmp_path / "rec.wav", config), load_audio(tmp_path / "stim.flac", config)
    lag, snr_db = find_offset(recording, stimulus, RATE)
    # Within 1 ms: what is left is the device's own group delay, which the transfer function absorbs.
    assert abs(lag / RATE - offset_s) < 1e-3, (lag / RATE, offset_s)
    assert snr_db > 20
    _, fit = explain_recording(recording, stimulus, RATE)
    assert fit.warning is None and fit.explained > 0.95
    assert abs(fit.offset_s - offset_s) < 1e-3


def _tone_files(folder: Path, level_dbfs: float = -20.0, whine: bool = False, seed: int = 1,
                spl_db: float = 65.0) -> tuple[Path, Path]:
    """A steady 1 kHz tone through a simulated device at ``level_dbfs`` (RMS), and its stimulus at 48 kHz."""
    n = 10 * RATE
    t = np.arange(n) / RATE
    tone = np.sin(2 * np.pi * 1000 * t)
    recording = _device_recording(tone * P_REF * 10 ** (spl_db / 20) * np.sqrt(2), RATE, seed)
    recording *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(recording**2))
    if whine:  # the device's own whine at 3.15 kHz, 42 dB under the tone, independent of it
        recording += 10 ** ((level_dbfs - 42) / 20) * np.sqrt(2) * np.sin(2 * np.pi * 3150 * t + 0.3)
    name = "tone_whine" if whine else "tone"
    write_audio(folder / f"{name}.wav", recording, RATE, "PCM_24")
    write_audio(folder / "tone_stimulus.wav", _played(tone * 0.3, RATE, 48000, 0.06, 1.0), 48000, "PCM_16")
    return folder / f"{name}.wav", folder / "tone_stimulus.wav"


@pytest.fixture(scope="module")
def bundled():
    from audio_artifacts.inference.detector import Detector

    return Detector(threads=2)


def test_steady_tone_is_not_flagged_with_its_stimulus_and_a_whine_still_is(tmp_path: Path, bundled) -> None:
    clean, stimulus = _tone_files(tmp_path)
    whined, _ = _tone_files(tmp_path, whine=True)
    alone = bundled.scan_file(clean)
    judged = bundled.scan_file(clean, stimulus=stimulus)
    # Output-only, a steady tone is physically a whine: the bundled model flags it (the documented difference).
    assert alone.flagged, alone.probability
    assert not judged.flagged, judged.probability
    assert judged.stimulus is not None and judged.stimulus.warning is None
    assert judged.stimulus.offset_s == pytest.approx(0.06, abs=1e-3)
    assert judged.stimulus.lines_hz[0] == pytest.approx(1000.0, abs=16.0)
    found = bundled.scan_file(whined, stimulus=stimulus)
    assert found.flagged, found.probability
    assert found.stimulus.file == str(stimulus)


def test_a_stimulus_aware_event_is_described_from_the_residual(tmp_path: Path, bundled) -> None:
    whined, stimulus = _tone_files(tmp_path, whine=True)
    alone, judged = bundled.scan_file(whined), bundled.scan_file(whined, stimulus=stimulus)
    assert alone.events and judged.events
    # From the recording, the 1 kHz test tone is the loudest line; from the residual only the whine is left.
    assert any(abs(f - 1000.0) < 5 for f in alone.events[0].frequencies_hz), alone.events[0]
    (event,) = judged.events
    assert event.type == "tonal", event
    assert any(abs(f - 3150.0) < 5 for f in event.frequencies_hz), event
    assert not any(abs(f - 1000.0) < 50 for f in event.frequencies_hz), event
    # ...and its level is the whine's, some 40 dB under the tone's.
    assert event.level_db < alone.events[0].level_db - 30, (event.level_db, alone.events[0].level_db)


def test_harmonics_of_a_loud_tone_do_not_count(tmp_path: Path) -> None:
    """A tone driving the output stage into saturation: 2f, 3f ... are the input's, not the device's."""
    n = 8 * RATE
    t = np.arange(n) / RATE
    tone = np.sin(2 * np.pi * 500 * t)
    rng = np.random.default_rng(11)
    device = draw_device(rng, "loud", "linear")
    loud = tone * P_REF * 10 ** ((device.ospl_db - device.base_gain_db + 6) / 20) * np.sqrt(2)
    out = render_device(device, loud, n, RATE, rng)
    recording = out / np.max(np.abs(out)) * 0.5 + rng.standard_normal(n) * 1e-6
    stimulus = _played(tone * 0.4, RATE, 44100, 0.03, 1.0)
    write_audio(tmp_path / "loud.wav", recording, RATE, "FLOAT")
    write_audio(tmp_path / "stim.wav", stimulus, 44100, "PCM_16")
    config = AudioConfig(sample_rate=RATE)
    x, s = load_audio(tmp_path / "loud.wav", config), load_audio(tmp_path / "stim.wav", config)
    residual, fit = explain_recording(x, s, RATE)
    assert fit.thd_percent is not None and fit.thd_percent > 1.0  # an analyzer's THD, reported separately

    def line_over_floor(signal: np.ndarray, frequency: float) -> float:
        spectrum = np.abs(np.fft.rfft(signal[RATE: 7 * RATE] * np.hanning(6 * RATE))) ** 2
        k = int(round(frequency * 6))
        floor = np.median(np.concatenate([spectrum[k - 300 : k - 60], spectrum[k + 60 : k + 300]]))
        return float(10 * np.log10(spectrum[k - 3 : k + 4].max() / floor))

    for k in (2, 3, 4, 5):
        assert line_over_floor(x, 500 * k) > 20, k  # the recording has the harmonics
        assert line_over_floor(residual, 500 * k) < 6, k  # the residual does not


def test_a_stimulus_that_does_not_match_warns_and_judges_the_recording(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 6 * RATE
    recording = _device_recording(_speechlike(rng, n, RATE) * P_REF * 10 ** (65 / 20), RATE, seed=8)
    other = _speechlike(np.random.default_rng(99), n, RATE)
    residual, fit = explain_recording(recording, other, RATE)
    assert fit.warning is not None and "explains only" in fit.warning
    np.testing.assert_array_equal(residual, recording.astype(np.float32))


def test_a_silent_stimulus_leaves_the_recording_as_it_is() -> None:
    rng = np.random.default_rng(5)
    recording = rng.standard_normal(3 * RATE) * 0.01
    residual, fit = explain_recording(recording, np.zeros(4 * RATE), RATE)
    assert fit.silent and fit.warning is None and fit.explained is None
    np.testing.assert_array_equal(residual, recording.astype(np.float32))


def _model_copy(folder: Path, name: str, residual: dict | None = None) -> Path:
    """The bundled model's main model in ``folder/name``; with ``residual``, a residual/ model whose
    model.json is the main one's updated by ``residual`` (same weights, other threshold / temperature)."""
    import json
    import shutil

    from audio_artifacts.models.model_dir import RESIDUAL_DIR, default_model_dir

    target = folder / name
    shutil.copytree(default_model_dir(), target, ignore=shutil.ignore_patterns(RESIDUAL_DIR))
    if residual is not None:
        shutil.copytree(target, target / RESIDUAL_DIR)
        info_file = target / RESIDUAL_DIR / "model.json"
        info_file.write_text(json.dumps({**json.loads(info_file.read_text()), **residual}))
    return target


def test_a_residual_model_judges_the_residual_on_the_main_models_scale(tmp_path: Path) -> None:
    from audio_artifacts.errors import ModelDirError
    from audio_artifacts.inference.detector import Detector

    whined, stimulus = _tone_files(tmp_path, whine=True)
    main_only = Detector(_model_copy(tmp_path, "main"), describe=False)
    threshold, temperature = 0.3, 2.0
    paired = Detector(_model_copy(tmp_path, "paired", {"threshold": threshold, "temperature": temperature}),
                      describe=False)
    reference = main_only.window_scores(whined, stimulus)
    scores = paired.window_scores(whined, stimulus)
    np.testing.assert_allclose(scores.recording_probabilities, reference.recording_probabilities, atol=1e-9)

    # The same weights under the residual model's own temperature and threshold, shifted onto the main scale.
    def logit(p):
        return np.log(p / (1 - p))

    raw = logit(np.clip(reference.residual_probabilities, 1e-12, 1 - 1e-12)) * main_only.temperature
    expected = 1 / (1 + np.exp(-(raw / temperature - logit(threshold) + logit(paired.threshold))))
    np.testing.assert_allclose(scores.residual_probabilities, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(scores.residual_probabilities, reference.residual_probabilities)
    # flagged on the main scale exactly where the residual model's own probability reaches its threshold
    own = 1 / (1 + np.exp(-raw / temperature))
    assert np.array_equal(scores.residual_probabilities >= paired.threshold, own >= threshold)
    np.testing.assert_allclose(scores.probabilities,
                               np.minimum(scores.recording_probabilities, scores.residual_probabilities))

    # A residual model of another rate is refused when a stimulus-aware scan needs it; plain scans never read it.
    odd = Detector(_model_copy(tmp_path, "odd", {"sample_rate": 16000}), describe=False)
    assert odd.scan_file(whined).ok
    with pytest.raises(ModelDirError, match=r"odd/residual: the residual model must share the main model's rate"):
        odd.window_scores(whined, stimulus)

"""Device families differ physically, the held-out ones are defined once, and loud inputs distort."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.simulate.device import (
    FAMILIES, FOREIGN_FAMILIES, P_REF, TRAIN_FAMILIES, draw_device, mic_noise_shape, render_device,
)
from audio_artifacts.simulate.levels import band_power_track, frame_times
from audio_artifacts.simulate.recording import SimulatorConfig, device_for


def _devices(family: str, count: int = 40):
    return [draw_device(np.random.default_rng(seed), f"{family}-{seed}", family) for seed in range(count)]


def test_families_split_into_train_and_held_out_in_one_place() -> None:
    assert len(TRAIN_FAMILIES) >= 6 and len(FOREIGN_FAMILIES) >= 2
    assert set(TRAIN_FAMILIES) | set(FOREIGN_FAMILIES) == set(FAMILIES)
    assert not set(TRAIN_FAMILIES) & set(FOREIGN_FAMILIES)
    config = SimulatorConfig()
    assert config.families == TRAIN_FAMILIES and config.foreign_families == FOREIGN_FAMILIES
    with pytest.raises(ValueError, match="disjoint"):
        SimulatorConfig(families=TRAIN_FAMILIES + FOREIGN_FAMILIES[:1])
    # The default draw and every split but "foreign" stay off the held-out families.
    assert {draw_device(np.random.default_rng(s), "x").family for s in range(60)} <= set(TRAIN_FAMILIES)
    assert {device_for(0, "train", d).family for d in range(30)} <= set(TRAIN_FAMILIES)
    assert {device_for(0, "foreign", d).family for d in range(12)} == set(FOREIGN_FAMILIES)


def test_families_differ_in_time_constants_and_roll_off() -> None:
    fast, slow = _devices("ric_fast"), _devices("bte_slow_agc")
    assert max(d.attack_s for d in fast) <= 0.005 and max(d.release_s for d in fast) <= 0.1
    assert min(d.attack_s for d in slow) >= 0.05 and min(d.release_s for d in slow) >= 0.5
    attacks = [d.attack_s for f in FAMILIES for d in _devices(f, 20) if d.wdrc]
    assert min(attacks) < 0.0015 and max(attacks) > 0.5  # 1 ms ... 1 s overall
    assert all(not d.wdrc and not d.expansion for d in _devices("linear"))
    assert all(3000 <= d.rolloff_hz <= 5000 for d in _devices("bte_power"))
    assert all(8000 <= d.rolloff_hz <= 10000 for d in _devices("wideband"))
    assert min(d.output_noise_db for d in _devices("bte_power")) > max(d.output_noise_db for d in _devices("wideband"))
    # Microphone noise spectra: white is flat in band, pink rises below its corner, hump peaks at its centre.
    kinds = {d.mic_noise_kind for f in FAMILIES for d in _devices(f, 10)}
    assert kinds == {"pink", "white", "hump"}
    freqs = np.array([200.0, 1000.0, 8000.0])
    for d in _devices("cic_mems", 10):
        shape = mic_noise_shape(d, np.array([d.mic_hump_hz / 3, d.mic_hump_hz, min(3 * d.mic_hump_hz, 20000.0)]))
        if d.mic_noise_kind == "hump":
            assert shape[1] > 1.5 * shape[2] and shape[1] > shape[0]
    white = next(d for d in _devices("wideband") if d.mic_noise_kind == "white")
    pink = next(d for d in _devices("bte_slow_agc"))
    w, p = mic_noise_shape(white, freqs), mic_noise_shape(pink, freqs)
    assert w[0] / w[2] < 1.5 < p[0] / p[2]


def _thd_db(device, level_db: float, sample_rate: int = 16000) -> float:
    n = 2 * sample_rate
    t = np.arange(n) / sample_rate
    tone = np.sin(2 * np.pi * 1000.0 * t) * P_REF * 10 ** (level_db / 20) * np.sqrt(2)
    out = render_device(device, tone, n, sample_rate, np.random.default_rng(0))
    spectrum = np.abs(np.fft.rfft(out * np.hanning(n))) ** 2

    def power(f: float) -> float:
        i = int(round(f * n / sample_rate))
        return float(spectrum[i - 3:i + 4].sum())

    return 10 * np.log10(sum(power(k * 1000.0) for k in range(2, 7)) / power(1000.0))


@pytest.mark.parametrize("family", ["linear", "bte_power"])
def test_distortion_rises_with_input_level(family: str) -> None:
    """Input-driven saturation: THD of a 1 kHz tone grows with its level (clean, not an artifact)."""
    for device in _devices(family, 3):
        thd = [_thd_db(device, level) for level in (60.0, 90.0)]
        assert thd[1] > thd[0] + 10.0, thd
    assert min(_thd_db(d, 90.0) for d in _devices(family, 3)) > -50.0


def test_noise_gate_floor_breathes_with_the_input() -> None:
    """A gate's floor opens under a tone and closes after it; a linear aid's floor stays put."""
    fs = 16000
    n = 3 * fs
    t = np.arange(n) / fs
    tone = np.where(t < 1.0, np.sin(2 * np.pi * 500.0 * t), 0.0) * P_REF * 10 ** (65 / 20) * np.sqrt(2)

    def opening_db(device) -> float:
        out = render_device(device, tone, n, fs, np.random.default_rng(1))
        power = band_power_track(out, fs, 3000.0, 6000.0)  # noise only: no tone energy up there
        times = frame_times(power.size, fs)
        return float(10 * np.log10(power[(times > 0.5) & (times < 0.95)].mean() / power[times > 2.0].mean()))

    assert min(opening_db(d) for d in _devices("noise_gate", 3)) > 15.0
    assert max(abs(opening_db(d)) for d in _devices("linear", 2)) < 1.0

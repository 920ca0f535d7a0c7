"""Augmentation: each transform checked on real signal properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_artifacts.data import augment as aug

SR = 16000


def noise(seconds: float = 1.0, rms: float = 0.01, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * rms).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def band_db(x: np.ndarray, low: float, high: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return 10 * np.log10(np.mean(spec[(f >= low) & (f < high)]))


def test_gain_changes_level_by_the_drawn_amount():
    x = noise()
    gain = aug.Gain(p=1.0, min_db=-12, max_db=6)
    rng = np.random.default_rng(1)
    for _ in range(5):
        y, label = gain(x, 0.0, rng)
        assert y.dtype == np.float32 and y.shape == x.shape and label == 0.0
        drawn = gain.last_params["gain_db"]
        assert -12 <= drawn <= 6
        assert rms_db(y) - rms_db(x) == pytest.approx(drawn, abs=1e-3)


def test_probability_zero_and_one():
    x = noise()
    never, always = aug.Gain(p=0.0), aug.Gain(p=1.0, min_db=3, max_db=3)
    rng = np.random.default_rng(0)
    assert all(never(x, 1.0, rng)[0] is x for _ in range(20))
    assert never.last_params is None
    # p=0.5 applies about half the time
    half = aug.Gain(p=0.5, min_db=3, max_db=3)
    applied = sum(half(x, 0.0, rng)[0] is not x for _ in range(400))
    assert 150 < applied < 250
    assert rms_db(always(x, 0.0, rng)[0]) - rms_db(x) == pytest.approx(3.0, abs=1e-3)


def test_constructor_validation():
    with pytest.raises(ValueError, match="probability"):
        aug.Gain(p=1.5)
    with pytest.raises(ValueError, match="min <= max"):
        aug.NoiseFloor(min_db=0, max_db=-10)
    with pytest.raises(ValueError, match="max_shift_s"):
        aug.TimeShift(max_shift_s=-1)


@pytest.mark.parametrize("tilt", [-6.0, 0.0, 3.0])
def test_coloured_noise_has_the_requested_slope(tilt):
    x = aug.coloured_noise(SR * 4, tilt, np.random.default_rng(2))
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    # mean power density, 2-4 kHz octave vs 1-2 kHz octave: about `tilt` dB apart
    # (the density falls by tilt dB per octave; octave centres are one octave apart)
    measured = band_db(x, 2000, 4000) - band_db(x, 1000, 2000)
    assert measured == pytest.approx(tilt, abs=0.7)


def test_noise_floor_adds_noise_at_the_relative_level():
    x = noise(rms=0.02)
    floor = aug.NoiseFloor(p=1.0, min_db=-20, max_db=-20, min_tilt_db_per_octave=-3,
                           max_tilt_db_per_octave=-3)
    y, label = floor(x, 1.0, np.random.default_rng(3))
    assert label == 1.0 and y.shape == x.shape
    assert rms_db(y - x) - rms_db(x) == pytest.approx(-20.0, abs=0.01)
    assert floor.last_params == {"level_db": -20.0, "tilt_db_per_octave": -3.0}
    silent = np.zeros(SR, dtype=np.float32)
    assert not np.any(floor(silent, 0.0, np.random.default_rng(3))[0])


def test_time_shift_stays_inside_recording_and_within_max_shift():
    shift = aug.TimeShift(p=1.0, max_shift_s=0.5)
    rng = np.random.default_rng(4)
    n, w = 10 * SR, 5 * SR
    starts = [shift.start(3 * SR, n, w, SR, rng) for _ in range(300)]
    assert min(starts) >= 3 * SR - SR // 2 and max(starts) <= 3 * SR + SR // 2
    assert len(set(starts)) > 100
    near_end = [shift.start(n - w, n, w, SR, rng) for _ in range(100)]
    assert max(near_end) <= n - w and min(near_end) >= n - w - SR // 2  # never past the end
    short = [shift.start(0, 2 * SR, w, SR, rng) for _ in range(100)]
    assert short == [0] * 100  # a short recording's padding is masked: it stays at the start
    assert aug.TimeShift(p=0.0).start(7, n, w, SR, rng) == 7


def tone_renderer(rng, host, sample_rate, level_db):
    t = np.arange(host.size) / sample_rate
    rms = np.sqrt(np.mean(host.astype(np.float64) ** 2))
    return (np.sqrt(2) * rms * 10 ** ((level_db or 0.0) / 20) * np.sin(2 * np.pi * 3000 * t)), "tonal"


def test_injection_turns_clean_windows_positive_and_passes_the_level():
    x = noise(rms=0.01)
    inject = aug.ArtifactInjection(tone_renderer, SR, p=1.0, min_db=-10, max_db=-10)
    y, label = inject(x, 0.0, np.random.default_rng(5))
    assert label == 1.0 and y.dtype == np.float32
    assert inject.last_params == {"type": "tonal", "level_db": -10.0}
    assert rms_db(y - x) - rms_db(x) == pytest.approx(-10.0, abs=0.01)
    assert band_db(y, 2998, 3002) - band_db(x, 2998, 3002) > 20
    assert abs(band_db(y, 500, 1500) - band_db(x, 500, 1500)) < 0.5
    # windows that already hold an artifact are left alone
    same, label = inject(x, 1.0, np.random.default_rng(5))
    assert same is x and label == 1.0
    with pytest.raises(ValueError, match="both"):
        aug.ArtifactInjection(tone_renderer, SR, min_db=-3)


@pytest.mark.parametrize("kind", ["tonal", "tdma_buzz", "periodic_ticks", "noise_am"])
def test_simulated_injection_raises_energy_in_the_artifact_band(kind):
    x = noise(seconds=3.0, rms=0.01, seed=11)
    render = aug.simulated_artifacts([kind])
    inject = aug.ArtifactInjection(render, SR, p=1.0, min_db=15, max_db=15)
    y, label = inject(x, 0.0, np.random.default_rng(12))
    assert label == 1.0 and y.shape == x.shape
    assert inject.last_params == {"type": kind, "level_db": 15.0}
    added = y.astype(np.float64) - x
    # the band where the artifact put its energy: the loudest 100 Hz band of what was added
    spec = np.abs(np.fft.rfft(added)) ** 2
    f = np.fft.rfftfreq(added.size, 1 / SR)
    centre = f[np.argmax(np.convolve(spec, np.ones(300), mode="same"))]
    # loudest 32 ms frame in that band (impulsive types are loud in few frames only)
    assert frame_band_max_db(y, centre - 50, centre + 50) - frame_band_max_db(x, centre - 50, centre + 50) > 3.0


def frame_band_max_db(x: np.ndarray, low: float, high: float, frame: int = 512) -> float:
    frames = x[: x.size // frame * frame].astype(np.float64).reshape(-1, frame) * np.hanning(frame)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(frame, 1 / SR)
    return 10 * np.log10(spec[:, (f >= low) & (f < high)].sum(axis=1).max())


def test_simulated_artifacts_rejects_unknown_types_and_pickles():
    import pickle

    with pytest.raises(ValueError, match="unknown artifact types"):
        aug.simulated_artifacts(["whistle"])
    inject = aug.ArtifactInjection(aug.simulated_artifacts(["clicks"]), SR, p=1.0)
    copy = pickle.loads(pickle.dumps(inject))  # loader workers started with spawn
    x = noise(seconds=1.0, seed=3)
    a, _ = inject(x, 0.0, np.random.default_rng(4))
    b, _ = copy(x, 0.0, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_compose_applies_in_order_and_reports_params():
    x = noise()
    chain = aug.Compose([aug.Gain(p=1.0, min_db=6, max_db=6),
                         aug.ArtifactInjection(tone_renderer, SR, p=1.0, min_db=-6, max_db=-6)])
    y, label = chain(x, 0.0, np.random.default_rng(0))
    assert label == 1.0 and set(chain.last_params) == {"gain", "inject"}
    # injected at -6 dB relative to the already amplified window
    amplified = x * np.float32(10 ** (6 / 20))
    assert rms_db(y - amplified) - rms_db(amplified) == pytest.approx(-6.0, abs=0.05)


def test_spec_augment_masks_time_and_frequency_with_the_mean():
    sa = aug.SpecAugment(p=1.0, time_masks=2, max_time_frames=10, freq_masks=1,
                         max_freq_bins=5, seed=7)
    features = torch.randn(8, 1, 100, 64)
    sa.eval()
    assert sa(features) is features
    sa.train()
    out = sa(features)
    assert out.shape == features.shape
    changed = out != features
    for b in range(8):
        mean = features[b].mean()
        assert torch.allclose(out[b][changed[b]], mean.expand(int(changed[b].sum())))
        rows = changed[b, 0].all(dim=1).sum()  # fully masked frames (time masks)
        cols = changed[b, 0].all(dim=0).sum()  # fully masked bins (frequency mask)
        assert rows <= 20 and cols <= 5
    assert changed.any()
    # reproducible from the seed, different on the next call
    again = aug.SpecAugment(p=1.0, time_masks=2, max_time_frames=10, freq_masks=1,
                            max_freq_bins=5, seed=7).train()
    assert torch.equal(again(features), out)
    assert not torch.equal(again(features), out)


def test_spec_augment_probability_zero_is_identity():
    sa = aug.SpecAugment(p=0.0).train()
    x = torch.randn(2, 1, 50, 64)
    assert torch.equal(sa(x), x)


def test_mixup_mixes_waveforms_and_labels_with_the_same_weights():
    waves = torch.randn(6, 100)
    labels = torch.tensor([1.0, 0, 0, 1, 0, 1])
    result = aug.mixup(waves, labels, 0.4, np.random.default_rng(9))
    w = result.weights
    assert ((w >= 0) & (w <= 1)).all()
    assert ((result.labels >= 0) & (result.labels <= 1)).all()
    # recover the partner of each example from the label arithmetic on the waveforms
    for i in range(6):
        partner = (result.waveforms[i] - w[i] * waves[i]) / (1 - w[i])
        j = int(torch.argmin(((waves - partner) ** 2).sum(1)))
        assert torch.allclose(partner, waves[j], atol=1e-3)
        assert result.labels[i] == pytest.approx(float(w[i] * labels[i] + (1 - w[i]) * labels[j]), abs=1e-6)
    same = aug.mixup(waves, labels, 0.4, np.random.default_rng(9))
    assert torch.equal(same.waveforms, result.waveforms)
    with pytest.raises(ValueError, match="alpha"):
        aug.mixup(waves, labels, 0.0, np.random.default_rng(9))

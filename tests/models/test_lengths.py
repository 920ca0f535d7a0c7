"""Length-aware models: whatever fills a short window's padding, the logit does not change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_artifacts.models.fast import FastArtifactNet
from audio_artifacts.models.masking import frame_mask, masked_autocorrelation, masked_max, masked_mean
from audio_artifacts.models.registry import build_model

RATE = 32000
N = 5 * RATE


def _box(seed: int, seconds: float = 5.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * RATE)
    t = torch.arange(n) / RATE
    return 1e-3 * torch.randn(n, generator=g) + 3e-4 * torch.sin(2 * np.pi * 2500.0 * t)


def _padding(fill: str, pad: int, seed: int) -> torch.Tensor:
    """What a test puts in a window's padding: ``pad`` samples of noise, loud noise, DC, a tone or clicks."""
    g = torch.Generator().manual_seed(seed)
    if fill == "noise":
        return torch.randn(pad, generator=g) * 1e-3
    if fill == "loud":
        return torch.randn(pad, generator=g) * 0.5
    if fill == "dc":
        return torch.full((pad,), 0.3)
    if fill == "tone":
        return 0.2 * torch.sin(2 * np.pi * 1000.0 * torch.arange(pad) / RATE)
    return (torch.arange(pad) % 3200 == 0).float() * 0.9


@pytest.fixture(scope="module")
def fast_models():
    torch.manual_seed(0)
    plain = FastArtifactNet().eval()
    torch.manual_seed(1)
    following = FastArtifactNet(level_following=True, floor_stats=True, band_transients=True).eval()
    return plain, following


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    length=st.integers(min_value=RATE // 2, max_value=N - 1),
    fill=st.sampled_from(["noise", "loud", "dc", "tone", "clicks"]),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_the_fast_models_logit(fast_models, length, fill, seed):
    real = _box(seed)[:length]
    pad = N - length
    zero = torch.cat([real, torch.zeros(pad)]).unsqueeze(0)
    other = torch.cat([real, _padding(fill, pad, seed + 1)]).unsqueeze(0)
    lengths = torch.tensor([length])
    for model in fast_models:
        with torch.no_grad():
            a, b = model(zero, lengths), model(other, lengths)
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_the_real_part_still_matters_and_full_lengths_equal_none(fast_models):
    model = fast_models[1]
    x = torch.stack([_box(1), _box(2)])
    with torch.no_grad():
        none = model(x)
        full = model(x, torch.tensor([N, N]))
        cut = model(x, torch.tensor([RATE, RATE]))
    torch.testing.assert_close(none, full)
    assert not torch.allclose(cut, full, atol=1e-4)  # a 1 s crop is judged on its own samples


def test_a_batch_mixing_lengths_gives_each_row_its_own_answer(fast_models):
    model = fast_models[0]
    rows = torch.stack([_box(3), _box(4), _box(5)])
    lengths = torch.tensor([N, RATE // 2, 3 * RATE])
    with torch.no_grad():
        together = model(rows, lengths)
        alone = torch.cat([model(rows[i : i + 1], lengths[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_a_cnn_classifier_ignores_the_padding_too():
    torch.manual_seed(0)
    model = build_model("cnn14", freeze_backbone=False).eval()
    length = int(1.2 * RATE)
    real = _box(7)[:length]
    zero = torch.cat([real, torch.zeros(N - length)]).unsqueeze(0)
    noisy = torch.cat([real, 0.3 * torch.randn(N - length)]).unsqueeze(0)
    with torch.no_grad():
        a = model(zero, torch.tensor([length]))
        b = model(noisy, torch.tensor([length]))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_mask_helpers_count_only_real_values():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, -50.0, 0.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(masked_mean(x, m, 1), torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(masked_max(x, m, 1), torch.tensor([3.0, 4.0]))
    frames = frame_mask(torch.tensor([5000, 100]), 4, 2048, 1024)
    assert frames.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]  # frame 0 always counts
    # a sine's period shows over the real part even when padding holds noise
    t = torch.arange(400, dtype=torch.float32)
    sine = torch.sin(2 * np.pi * t / 20.0)
    padded = torch.cat([sine[:200], torch.randn(200)]).unsqueeze(0)
    mask = (t < 200).float().unsqueeze(0)
    r = masked_autocorrelation(padded, mask, 30, eps=1e-6)
    assert float(r[0, 19]) > 0.85 and float(r[0, 9]) < -0.85


ATTENTION_TINY = {
    "cnn14_att": dict(channels=[8, 16, 16]),
    "spectrogram_transformer": dict(d_model=16, layers=1, heads=2, feedforward=32),
    "wavegram_att": dict(channels=[8, 16], d_model=16, layers=1, heads=2, feedforward=32),
}
SHORT_N = 2 * RATE
"""The attention models' property test runs on 2 s windows: the same masks, a quarter of the work."""


@pytest.fixture(scope="module")
def attention_models():
    built = {}
    for seed, (name, arguments) in enumerate(sorted(ATTENTION_TINY.items())):
        torch.manual_seed(seed)
        built[name] = build_model(name, **arguments).eval()
    return built


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    length=st.integers(min_value=RATE // 4, max_value=SHORT_N - 1),
    fill=st.sampled_from(["noise", "loud", "dc", "clicks"]),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_the_attention_models_logit(attention_models, length, fill, seed):
    real = _box(seed, seconds=SHORT_N / RATE)[:length]
    pad = SHORT_N - length
    zero = torch.cat([real, torch.zeros(pad)]).unsqueeze(0)
    other = torch.cat([real, _padding(fill, pad, seed + 1)]).unsqueeze(0)
    lengths = torch.tensor([length])
    for name, model in attention_models.items():
        with torch.no_grad():
            a, b = model(zero, lengths), model(other, lengths)
            frames_a, frames_b = model.frame_probabilities(zero, lengths), model.frame_probabilities(other, lengths)
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
        torch.testing.assert_close(frames_a, frames_b, rtol=0, atol=1e-5, msg=name)


def test_the_attention_models_judge_a_short_window_on_its_own_frames(attention_models):
    x = torch.stack([_box(8, 2.0), _box(9, 2.0)])
    for name, model in attention_models.items():
        with torch.no_grad():
            none, full = model(x), model(x, torch.tensor([SHORT_N, SHORT_N]))
            cut = model(x, torch.tensor([RATE // 2, RATE // 2]))
            together = model(x, torch.tensor([SHORT_N, RATE // 2]))
        torch.testing.assert_close(none, full, msg=name)
        assert not torch.allclose(cut, full, atol=1e-4), name
        torch.testing.assert_close(together, torch.stack([full[0], cut[1]]), rtol=1e-4, atol=1e-5, msg=name)

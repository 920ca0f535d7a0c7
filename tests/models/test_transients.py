"""The band-transient branch: an isolated click stands out in its band, a lasting onset does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_artifacts.models.fast import FastArtifactNet
from audio_artifacts.models.transients import BandTransients, third_octave_edges

RATE = 32000


def _spikes(model: FastArtifactNet, x: np.ndarray) -> torch.Tensor:
    """Largest rise over both neighbours per band (dB), over the whole window."""
    power = model.floored_power(torch.tensor(x, dtype=torch.float32).unsqueeze(0))
    level = model.transients.band_levels(power)[0]
    padded = torch.nn.functional.pad(level, (0, 0, 2, 2), value=-1e4)
    return (level - torch.maximum(padded[:-4], padded[4:]))[2:-2].amax(0)


def _band_of(model: FastArtifactNet, hz: float) -> int:
    edges = third_octave_edges(model.power.n_bins * RATE / model.power.n_fft)
    return int(np.searchsorted(edges, hz)) - 1


def test_edges_are_third_octaves_from_50_hz_to_the_top():
    edges = third_octave_edges(12000.0)
    assert edges[0] == 50.0 and edges[-1] == 12000.0
    ratios = np.diff(np.log2(edges[5:-1]))
    np.testing.assert_allclose(ratios, 1 / 3, rtol=1e-9)
    assert all(b - a >= 100.0 for a, b in zip(edges, edges[1:]))


def test_a_click_rises_in_its_band_and_an_onset_that_lasts_does_not():
    model = FastArtifactNet(band_transients=True).eval()
    rng = np.random.default_rng(0)
    n = 5 * RATE
    noise = 1e-3 * rng.standard_normal(n)
    k = np.arange(int(0.04 * RATE)) / RATE
    click = 0.02 * np.sin(2 * np.pi * 2000.0 * k) * np.exp(-k / 0.006)
    clicked = noise.copy()
    clicked[2 * RATE : 2 * RATE + k.size] += click
    onset = noise.copy()
    t = np.arange(n - 2 * RATE) / RATE
    onset[2 * RATE :] += 0.02 * np.sin(2 * np.pi * 2000.0 * t) * np.exp(-t / 1.0)  # a struck note ringing on
    band = _band_of(model, 2000.0)
    with torch.no_grad():
        quiet, burst, note = (_spikes(model, x) for x in (noise, clicked, onset))
    assert float(burst[band]) > float(quiet[band]) + 10.0
    assert float(note[band]) < float(burst[band]) - 10.0


def test_the_branch_changes_the_logit_layout_and_round_trips():
    plain = FastArtifactNet()
    with_bursts = FastArtifactNet(band_transients=True)
    assert with_bursts.head[0].in_features == plain.head[0].in_features + 4 * with_bursts.transients.channels
    again = FastArtifactNet(**with_bursts.arguments())
    assert again.transients is not None
    assert FastArtifactNet(**plain.arguments()).transients is None


def test_a_window_shorter_than_a_block_is_one_block():
    branch = BandTransients(15.625, 769, 12000.0)
    power = torch.rand(2, 10, 769) + 1e-3
    out = branch(power, None, 31)
    assert out.shape == (2, 2 * branch.channels)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("length", [RATE // 2, 2 * RATE + 123])
def test_padding_frames_are_never_a_neighbour(length):
    branch = BandTransients(15.625, 769, 12000.0).eval()
    torch.manual_seed(0)
    frames_total = 155
    real = (length - 2048) // 1024 + 1
    power = torch.rand(1, frames_total, 769) + 1e-3
    other = power.clone()
    other[:, real:] = 1e3  # loud padding
    mask = torch.zeros(1, frames_total)
    mask[:, :real] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(branch(power, mask, 31), branch(other, mask, 31))


def test_the_embedding_is_what_the_head_reads():
    torch.manual_seed(0)
    model = FastArtifactNet(band_transients=True).eval()
    x = 1e-3 * torch.randn(3, 5 * RATE)
    lengths = torch.tensor([5 * RATE, 2 * RATE, RATE])
    with torch.no_grad():
        features = model.embedding(x, lengths)
        assert features.shape == (3, model.head[0].in_features)
        torch.testing.assert_close(model.head(features).squeeze(-1), model(x, lengths))

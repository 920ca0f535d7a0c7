"""The fast model: shapes, conventions, its hand-designed measures respond to the
signals they are designed for, and it exports to ONNX with parity in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_artifacts.models.fast import FastArtifactNet, FramePower, normalised_autocorrelation

RATE = 32000
N = 5 * RATE


def _noise(seed: int, batch: int = 1, level: float = 1e-3) -> torch.Tensor:
    """Shaped floor: white noise through a gentle low-pass, as a device's noise."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(batch, N + 1, generator=g) * level
    return (white[:, 1:] + 0.6 * white[:, :-1]).contiguous()


def _tone(freq: float, amplitude: float) -> torch.Tensor:
    t = torch.arange(N, dtype=torch.float64) / RATE
    return (amplitude * torch.sin(2 * np.pi * freq * t)).float()


def _clicks(period_s: float, amplitude: float, width: int = 16) -> torch.Tensor:
    signal = torch.zeros(N)
    for start in range(int(0.1 * RATE), N - width, int(period_s * RATE)):
        signal[start : start + width] = amplitude
    return signal


@pytest.fixture(scope="module")
def model() -> FastArtifactNet:
    torch.manual_seed(0)
    return FastArtifactNet().eval()


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_logits_shape_and_dtype(model, batch):
    with torch.no_grad():
        logits = model(_noise(batch, batch))
    assert logits.shape == (batch,) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_other_lengths_silence_and_dc_give_finite_logits(model):
    with torch.no_grad():
        short = model(_noise(1)[:, : 2 * RATE])
        silent = model(torch.zeros(2, N))
        offset = model(_noise(2, 2) + 0.3)
    assert short.shape == (1,) and silent.shape == (2,) and offset.shape == (2,)
    assert torch.isfinite(torch.cat([short, silent, offset])).all()


def test_dc_offset_does_not_change_the_logits(model):
    noisy = _noise(4, 2)
    with torch.no_grad():
        assert torch.allclose(model(noisy), model(noisy + 0.01), atol=1e-3)


def test_fft_front_end_matches_the_export_path_and_numpy():
    frames = FramePower(2048, 1024, 769)
    x = _noise(5, 2)
    reference = np.abs(np.fft.rfft(
        np.lib.stride_tricks.sliding_window_view(x.numpy()[0], 2048)[::1024] * np.hanning(2049)[:-1], axis=-1
    ))[:, :769] ** 2
    fast = frames(x)
    matmul = frames._matmul_power(x.unfold(-1, 2048, 1024))
    assert fast.shape == (2, frames.n_frames(N), 769)
    np.testing.assert_allclose(fast[0].numpy(), reference, rtol=1e-3, atol=1e-3 * reference.max())
    torch.testing.assert_close(matmul, fast, rtol=1e-3, atol=1e-4 * float(fast.max()))


def test_a_weak_stationary_line_is_steady_and_prominent_in_its_bin(model):
    # -14 dB re the broadband floor's power: invisible in the waveform, clear per bin
    freq = 4000.0
    x = _noise(6) + _tone(freq, 3e-4)
    with torch.no_grad():
        stats = model.bin_statistics(model.log_power(x))  # (blocks, channels, bins)
    line_bin = round(freq / (RATE / 2048))
    mean_prominence, spread = stats[:, 1], stats[:, 3]
    others = torch.ones(stats.shape[-1], dtype=torch.bool)
    others[line_bin - 3 : line_bin + 4] = False
    assert (mean_prominence[:, line_bin] * 5 > 6.0).all()  # > 6 dB over its neighbours, every block
    # a noise bin's log power wanders by about 5.6 dB; the line's far less
    assert (spread[:, line_bin] < 0.5 * spread[:, others].median(-1).values).all()
    assert 0.8 < float(spread[:, others].median()) < 1.2


def test_a_harmonic_comb_shows_in_the_across_frequency_correlation(model):
    comb = sum(_tone(217.0 * k, 3e-4) for k in range(5, 40))
    with torch.no_grad():
        plain = model.comb_correlation(model.bin_statistics(model.log_power(_noise(7))))
        buzz = model.comb_correlation(model.bin_statistics(model.log_power(_noise(7) + comb)))
    lag = round(217.0 / (RATE / 2048))  # 14 bins
    assert float(buzz[:, lag - 1 : lag + 1].amax(-1).min()) > 0.3
    assert float(plain[:, lag - 1 : lag + 1].abs().amax()) < 0.15


def test_periodic_ticks_show_in_the_slow_envelope_correlation(model):
    period = 0.7
    ticks = _clicks(period, 0.02)
    with torch.no_grad():
        plain = model.slow_periodicity(model.log_power(_noise(8)))
        ticked = model.slow_periodicity(model.log_power(_noise(8) + ticks))
    lag = round(period * RATE / 1024)  # frames
    near = slice(lag - 2, lag + 1)
    assert float(ticked[0, :, near].amax()) > 0.4
    assert float(plain[0, :, near].abs().amax()) < 0.25


def test_fast_buzz_and_clicks_show_in_the_fast_envelopes(model):
    buzz = _clicks(0.010, 0.005, width=32)  # a packet every 10 ms
    click = torch.zeros(N)
    click[3 * RATE : 3 * RATE + 16] = 0.05
    with torch.no_grad():
        plain = model.fast_periodicity(_noise(9))
        buzzy = model.fast_periodicity(_noise(9) + buzz)
        clicked = model.fast_periodicity(_noise(9) + click)
    lag = 10  # ms, envelope steps of 1 ms
    assert float(buzzy[:, 0, lag - 1].min()) > 0.5  # the waveform's envelope, every block
    assert float(plain[:, :, lag - 1].abs().max()) < 0.2
    peak_plain, peak_click = plain[:, :, -1], clicked[:, :, -1]  # peak over mean, dB/10
    assert float(peak_click.amax()) > float(peak_plain.amax()) + 2.0  # > 20 dB more


def test_normalised_autocorrelation_of_white_noise_and_a_sine():
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(4, 5000, generator=g)
    sine = torch.sin(2 * np.pi * torch.arange(5000) / 25.0)
    assert float(normalised_autocorrelation(noise, 30).abs().max()) < 0.1
    r = normalised_autocorrelation(sine, 30)
    assert float(r[24]) > 0.9 and float(r[11]) < -0.9  # period 25, half period ~12


def test_spec_augment_slot_only_acts_in_training(model):
    class Blank(torch.nn.Module):
        def forward(self, x):
            assert x.dim() == 4 and x.shape[1] == 1
            return torch.zeros_like(x)

    x = _tone(3000.0, 1e-3).unsqueeze(0) + _noise(10)
    torch.manual_seed(0)
    fresh = FastArtifactNet(dropout=0.0)
    with torch.no_grad():
        before = fresh.eval()(x)
        fresh.spec_augment = Blank()
        assert torch.equal(fresh.eval()(x), before)
        assert not torch.allclose(fresh.train()(x), before)


def test_ablation_switches_and_arguments():
    full = FastArtifactNet()
    lean = FastArtifactNet(line_stats=False, periodicity=False, n_fft=512, hop=256)
    assert sum(p.numel() for p in lean.parameters()) < sum(p.numel() for p in full.parameters())
    with torch.no_grad():
        assert lean.eval()(_noise(11, 2)).shape == (2,)
    assert FastArtifactNet(**full.arguments()).arguments() == full.arguments()
    with pytest.raises(ValueError, match="fmax"):
        FastArtifactNet(fmax=20000.0)
    with pytest.raises(ValueError, match="bands"):
        FastArtifactNet(bands=(0, 5000, 3000))
    with pytest.raises(ValueError, match="batch, samples"):
        full(torch.zeros(N))


def test_onnx_export_matches_pytorch_in_onnxruntime(model, tmp_path):
    import onnxruntime as ort

    path = tmp_path / "fast.onnx"
    example = _noise(12, 2)
    torch.onnx.export(
        model, (example,), str(path), dynamo=True, opset_version=18,
        input_names=["waveform"], output_names=["logits"],
        dynamic_shapes={"waveform": {0: torch.export.Dim("batch", min=1, max=256)}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.cat([_noise(13, 3), _tone(5000.0, 1e-3).unsqueeze(0) + _noise(14), torch.zeros(1, N)])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"waveform": x.numpy()})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)
    op_types = {node.op_type for node in __import__("onnx").load(str(path)).graph.node}
    assert "DFT" not in op_types  # the export path uses matrix products, not ORT's slow DFT

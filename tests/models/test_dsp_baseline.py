"""The DSP baseline's features respond to what they claim, padding never moves the logit,
and the model follows the registry / model-directory / ONNX conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_artifacts import __version__
from audio_artifacts.models.dsp_baseline import DspBaseline
from audio_artifacts.models.model_dir import ModelInfo, load_model_dir, save_model_dir
from audio_artifacts.models.registry import build_model
from audio_artifacts.windows import WindowSpec

RATE = 32000
WINDOW = 5 * RATE


@pytest.fixture(scope="module")
def model() -> DspBaseline:
    return DspBaseline(sample_rate=RATE).eval()


def noise(seed: int = 0, level: float = 0.01) -> np.ndarray:
    return level * np.random.default_rng(seed).standard_normal(WINDOW)


def features(model: DspBaseline, *signals: np.ndarray, lengths: list[int] | None = None) -> dict[str, np.ndarray]:
    x = torch.tensor(np.stack(signals), dtype=torch.float32)
    with torch.inference_mode():
        values = model.features(x, None if lengths is None else torch.tensor(lengths)).numpy()
    return dict(zip(model.feature_names, values.T))


def test_a_1khz_line_in_noise_raises_tonality_and_prominence(model):
    t = np.arange(WINDOW) / RATE
    floor = noise()
    line = floor + 0.003 * np.sin(2 * np.pi * 1000.0 * t)  # 20 dB under the broadband noise
    f = features(model, floor, line)
    for name in ("tnr_max_median_db", "tnr_max_mean_db", "pr_max_median_db", "pr_max_mean_db"):
        assert f[name][1] > f[name][0] + 5.0, name
    assert f["peak_level_std_db"][1] < 2.0 < f["peak_level_std_db"][0]  # a steady line vs a noise bin (~5.6 dB)
    loud = floor + 0.05 * np.sin(2 * np.pi * 1000.0 * t)
    assert features(model, loud)["tones_median_log1p"][0] > 0  # above ECMA-418-1's criterion: counted


def test_a_10hz_click_train_raises_envelope_periodicity(model):
    floor = noise(1)
    train = floor.copy()
    train[:: RATE // 10] += 0.3
    f = features(model, floor, train)
    coarse = [n for n in model.feature_names if n.startswith("coarse_periodicity")]
    for name in coarse:
        assert f[name][1] > f[name][0] + 0.3, name
    assert all(f[name][0] < 0.4 for name in coarse)  # noise has no period


def test_a_250hz_buzz_raises_fine_periodicity(model):
    floor = noise(2)
    buzz = floor.copy()
    buzz[:: RATE // 250] += 0.2  # TDMA-like 4 ms pulse train
    f = features(model, floor, buzz)
    fine = [n for n in model.feature_names if n.startswith("fine_periodicity")]
    assert max(f[n][1] for n in fine) > 0.5 > max(f[n][0] for n in fine)


def test_a_single_click_raises_kurtosis_and_crest_factor(model):
    floor = noise(3)
    click = floor.copy()
    click[WINDOW // 2] += 0.5
    f = features(model, floor, click)
    assert f["kurtosis_log1p"][0] == pytest.approx(np.log1p(3.0), abs=0.05)  # Gaussian noise: kurtosis 3
    assert f["kurtosis_log1p"][1] > f["kurtosis_log1p"][0] + 1.0
    assert f["diff_kurtosis_log1p"][1] > f["diff_kurtosis_log1p"][0] + 1.0
    assert f["crest_factor_db"][1] > f["crest_factor_db"][0] + 10.0


def test_whatever_fills_the_padding_the_logit_is_the_same():
    torch.manual_seed(0)
    model = DspBaseline(sample_rate=RATE).eval()
    torch.nn.init.normal_(model.head.weight)  # every feature counts
    rng = np.random.default_rng(4)
    lengths = torch.tensor([WINDOW, 100_000, 40_000, 5_000, 1_000, 1])
    real = torch.tensor(0.01 * rng.standard_normal((len(lengths), WINDOW)), dtype=torch.float32)
    real[1, ::3200] += 0.3  # a click train in one row, a tone in another
    real[2] += 0.01 * torch.sin(2 * np.pi * 1500 * torch.arange(WINDOW) / RATE)
    inside = torch.arange(WINDOW).unsqueeze(0) < lengths.unsqueeze(1)
    zero_padded = real * inside
    noise_padded = torch.where(inside, real, torch.tensor(rng.uniform(-1, 1, real.shape), dtype=torch.float32))
    with torch.inference_mode():
        a, b = model(zero_padded, lengths), model(noise_padded, lengths)
        whole = model(real[:1])  # lengths None = every sample is real
    assert torch.all(torch.isfinite(a))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(whole, a[:1], rtol=0, atol=1e-5)
    # without lengths the noise would count: the property is not vacuous
    with torch.inference_mode():
        assert not torch.allclose(model(zero_padded[1:3]), model(noise_padded[1:3]), atol=1e-2)


def test_silence_and_full_scale_give_finite_logits(model):
    x = torch.stack([torch.zeros(WINDOW), torch.ones(WINDOW), torch.sign(torch.randn(WINDOW))])
    with torch.inference_mode():
        assert torch.all(torch.isfinite(model(x)))
        assert torch.all(torch.isfinite(model.features(x)))


def test_too_short_an_input_is_a_clear_error(model):
    with pytest.raises(ValueError, match="n_fft"):
        model(torch.zeros(1, 1000))


def test_registry_conventions_and_model_directory_round_trip(tmp_path):
    model = build_model("dsp_baseline", sample_rate=16000, fmax=7000.0)
    assert isinstance(model, DspBaseline) and model.spec_augment is None
    groups = model.parameter_groups()
    assert groups["backbone"] == [] and {id(p) for p in groups["head"]} == {id(p) for p in model.parameters()}
    rebuilt = build_model("dsp_baseline", **model.arguments())
    assert rebuilt.arguments() == model.arguments() and rebuilt.n_fft == 2048
    with torch.no_grad():
        model.feature_mean.uniform_(-1, 1)
        model.feature_std.uniform_(0.5, 2)
        model.head.weight.normal_()
    info = ModelInfo(name="b", version="1", architecture="dsp_baseline", arguments=model.arguments(),
                     sample_rate=16000, window=WindowSpec(), threshold=0.4, package_version=__version__)
    save_model_dir(tmp_path / "m", model.eval(), info)
    loaded, _ = load_model_dir(tmp_path / "m")
    x = torch.randn(2, 80000) * 0.01
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))  # standardiser buffers travel with the weights


@pytest.mark.slow  # the dynamo export takes about a minute on a busy CPU
def test_onnx_export_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from audio_artifacts.inference.export import export_onnx

    torch.manual_seed(1)
    model = DspBaseline(sample_rate=16000, fmax=7000.0, bands=[50.0, 1000.0, 7000.0])
    with torch.no_grad():
        model.head.weight.normal_(std=0.3)
    info = ModelInfo(name="b", version="1", architecture="dsp_baseline", arguments=model.arguments(),
                     sample_rate=16000, window=WindowSpec(), threshold=0.5, package_version=__version__)
    directory = save_model_dir(tmp_path / "m", model.eval(), info)
    # the graph takes the waveform only (lengths=None: full windows); a lengths input is for later
    report = export_onnx(directory, tmp_path / "m.onnx")
    assert report.max_abs_logit_diff <= 1e-2 and report.max_abs_probability_diff <= 1e-3

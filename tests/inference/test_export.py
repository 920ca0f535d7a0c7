"""ONNX export: real dynamo export, real ONNX Runtime, parity with PyTorch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audio_artifacts.cli import main
from audio_artifacts.inference.detector import sigmoid
from audio_artifacts.errors import ExportError
from audio_artifacts.inference.export import ParityReport, check_parity, export_onnx, parity_inputs
from audio_artifacts.models.model_dir import load_model_dir


def test_export_cli_installs_a_graph_with_the_contract_signature(exported):
    directory, report, code, onnx_path = exported
    assert code == 0
    assert report["installed"] == str(directory / "model.onnx")
    assert onnx_path.is_file() and (directory / "model.onnx").read_bytes() == onnx_path.read_bytes()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp, lengths = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == "waveform" and lengths.name == "lengths" and out.name == "logits"
    assert lengths.type == "tensor(int64)"
    assert isinstance(inp.shape[0], str) and lengths.shape[0] == inp.shape[0]  # dynamic batch axis
    assert inp.shape[1] == 160000
    assert report["window_samples"] == 160000 and report["opset"] == 18
    assert report["size_bytes"] == onnx_path.stat().st_size


def test_export_agrees_with_torch_on_inputs_it_was_not_checked_on(exported, tiny_model_dir):
    directory, report, _, _ = exported
    assert 0 <= report["max_abs_logit_diff"] <= report["logit_tolerance"]
    assert 0 <= report["max_abs_probability_diff"] <= report["probability_tolerance"]
    model, _ = load_model_dir(tiny_model_dir)
    rng = np.random.default_rng(123)
    t = np.arange(160000) / 32000
    batch = np.stack([
        0.003 * rng.standard_normal(160000),
        0.002 * rng.standard_normal(160000) + 0.02 * np.sin(2 * np.pi * 4400 * t),
        0.5 * np.sign(np.sin(2 * np.pi * 217 * t)),
        np.zeros(160000),
        0.002 * rng.standard_normal(160000) + (np.mod(t, 0.6) < 1 / 32000) * 0.3,
    ]).astype(np.float32)
    session = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
    # whole windows, and short recordings (0.5 s, 1.3 s, 4 s real) padded with noise
    for lengths in (np.full(5, 160000), np.array([16000, 41600, 128000, 160000, 16000])):
        lengths = lengths.astype(np.int64)
        (got,) = session.run(None, {"waveform": batch, "lengths": lengths})
        with torch.inference_mode():
            want = model(torch.from_numpy(batch), torch.from_numpy(lengths)).numpy()
        assert got.shape == (5,)
        assert np.max(np.abs(got - want)) < 1e-2
        assert np.max(np.abs(sigmoid(got) - sigmoid(want))) < 1e-3


def test_parity_report_summary_names_the_figures(exported):
    data = dict(exported[1])
    data.pop("installed")
    text = ParityReport(**data).summary()
    assert "max |logit diff|" in text and "max |prob diff|" in text and data["onnx_path"] in text


def test_parity_check_catches_a_graph_of_another_model(exported, model_dir_factory, tmp_path):
    directory = exported[0]
    other_dir = model_dir_factory(tmp_path / "other", seed=99)
    other, _ = load_model_dir(other_dir)
    inputs = parity_inputs(160000, 32000)
    logit_diff, prob_diff = check_parity(other, directory / "model.onnx", inputs)
    assert logit_diff > 1e-2 and prob_diff > 1e-4


def test_parity_inputs_are_deterministic_and_in_range():
    a = parity_inputs(32000, 32000)
    b = parity_inputs(32000, 32000)
    assert a.dtype == np.float32 and a.shape[1] == 32000 and a.shape[0] >= 6
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) <= 1.0)
    assert np.any(np.all(a == 0, axis=1))  # digital silence is among them


def test_export_cli_refuses_an_opset_without_dft(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tiny_model_dir), "--onnx", str(tmp_path / "x.onnx"), "--opset", "16"])
    assert exit_info.value.code == 2
    assert "--opset" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_export_of_a_missing_model_directory_is_a_user_error(tmp_path, capsys):
    code = main(["export", str(tmp_path / "nowhere"), "--onnx", str(tmp_path / "x.onnx")])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.slow
def test_export_over_tolerance_raises_and_writes_nothing(tiny_model_dir, tmp_path):
    # FFT in torch vs matrix-product DFT in ORT: never bit-identical, so 1e-12 fails
    out = tmp_path / "strict.onnx"
    with pytest.raises(ExportError, match="disagrees with PyTorch") as error:
        export_onnx(tiny_model_dir, out, logit_tolerance=1e-12, probability_tolerance=1e-12)
    assert "not written" in str(error.value) and "plain graph" in str(error.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []

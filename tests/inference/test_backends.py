"""Backends: torch and ONNX Runtime give the model's logits, with any batch size."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from audio_artifacts.errors import ModelDirError
from audio_artifacts.inference.backends import (
    TORCH_PREFERRED,
    Backend,
    OnnxBackend,
    TorchBackend,
    open_backend,
    resolve_kind,
)
from audio_artifacts.models.model_dir import load_model_dir


def _batch(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.01 * rng.standard_normal((n, 160000))).astype(np.float32)


def test_torch_backend_returns_the_models_logits(tiny_model_dir):
    model, _ = load_model_dir(tiny_model_dir)
    backend = TorchBackend(model)
    batch = _batch(3)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    out = backend.logits(batch)
    assert out.shape == (3,) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # a window scores the same alone as inside a batch (eval mode: no batch coupling)
    np.testing.assert_allclose(backend.logits(batch[1:2]), out[1:2], rtol=1e-4, atol=1e-5)
    assert isinstance(backend, Backend)


def test_backends_reject_a_batch_without_a_batch_axis(tiny_model_dir):
    backend = open_backend(tiny_model_dir, "torch")
    with pytest.raises(ValueError, match=r"\(B, samples\)"):
        backend.logits(np.zeros(160000, dtype=np.float32))


def test_auto_keeps_the_fast_architecture_in_torch_even_with_model_onnx(tiny_model_dir, exported):
    onnx_dir = exported[0]
    assert "fast" in TORCH_PREFERRED
    assert resolve_kind(tiny_model_dir, "auto") == "torch"
    assert resolve_kind(onnx_dir, "auto") == "torch"
    assert isinstance(open_backend(onnx_dir), TorchBackend)
    assert isinstance(open_backend(onnx_dir, "onnx"), OnnxBackend)
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_kind(tiny_model_dir, "tensorflow")


def test_auto_picks_onnx_for_other_architectures_only_when_model_onnx_exists(exported, tmp_path):
    info = json.loads((exported[0] / "model.json").read_text())
    info["architecture"] = "cnn14"  # an architecture that runs faster in ORT
    directory = tmp_path / "panns_like"
    directory.mkdir()
    (directory / "model.json").write_text(json.dumps(info))
    assert resolve_kind(directory, "auto") == "torch"
    shutil.copyfile(exported[0] / "model.onnx", directory / "model.onnx")
    assert resolve_kind(directory, "auto") == "onnx"
    assert isinstance(open_backend(directory), OnnxBackend)


def test_onnx_kind_without_model_onnx_says_how_to_export(tiny_model_dir):
    with pytest.raises(ModelDirError, match="audio-artifacts export"):
        open_backend(tiny_model_dir, "onnx")


def test_onnx_backend_agrees_with_torch_for_several_batch_sizes(tiny_model_dir, exported):
    onnx_dir = exported[0]
    torch_backend = open_backend(tiny_model_dir, "torch")
    onnx_backend = OnnxBackend(onnx_dir / "model.onnx", threads=1)
    for n in (1, 5):
        batch = _batch(n, seed=n)
        np.testing.assert_allclose(onnx_backend.logits(batch), torch_backend.logits(batch), atol=1e-3)


def test_onnx_backend_refuses_a_graph_without_a_waveform_input(tmp_path):
    node = helper.make_node("Identity", ["audio"], ["logits"])
    graph = helper.make_graph(
        [node], "wrong",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 10])],
    )
    path = tmp_path / "wrong.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    with pytest.raises(ModelDirError, match="waveform"):
        OnnxBackend(path)


def test_onnx_backend_names_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelDirError, match=str(path)):
        OnnxBackend(path)

"""Model directories: round trip to identical logits, clear errors for broken folders."""

from __future__ import annotations

import json

import pytest
import torch

from audio_artifacts import __version__
from audio_artifacts.errors import CheckpointError, ModelDirError
from audio_artifacts.models.fast import FastArtifactNet
from audio_artifacts.models.model_dir import (
    ModelInfo,
    default_model_dir,
    load_model_dir,
    read_model_info,
    save_model_dir,
)
from audio_artifacts.windows import WindowSpec

SMALL = dict(channels=8, hidden=16)


def _info(model: FastArtifactNet, **changes) -> ModelInfo:
    values = dict(
        name="test", version="0.0.1", architecture="fast", arguments=model.arguments(),
        sample_rate=32000, window=WindowSpec(5.0, 0.25), threshold=0.37,
        package_version=__version__, metrics={"recording_f1": 0.5},
    )
    values.update(changes)
    return ModelInfo(**values)


def _trained_looking(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights and BatchNorm statistics, so a reload that ignored them would show."""
    torch.manual_seed(3)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return model.eval()


@pytest.fixture()
def saved(tmp_path):
    model = _trained_looking(FastArtifactNet(**SMALL))
    directory = save_model_dir(
        tmp_path / "model", model, _info(model), config={"model": {"name": "fast"}}, card="# card\n"
    )
    return directory, model


def test_round_trip_gives_identical_logits_and_info(saved):
    directory, model = saved
    assert {p.name for p in directory.iterdir()} >= {
        "model.safetensors", "model.json", "config.yaml", "MODEL_CARD.md"
    }
    loaded, info = load_model_dir(directory)
    assert not loaded.training
    waveform = torch.randn(3, 32000 * 5, generator=torch.Generator().manual_seed(0)) * 0.01
    with torch.no_grad():
        assert torch.equal(loaded(waveform), model(waveform))
    assert info.threshold == pytest.approx(0.37)
    assert info.window == WindowSpec(5.0, 0.25)
    assert info.arguments == model.arguments()
    assert info.torch_version == torch.__version__
    assert read_model_info(directory) == info
    assert (directory / "MODEL_CARD.md").read_text() == "# card\n"


def test_model_json_is_self_describing(saved):
    directory, _ = saved
    data = json.loads((directory / "model.json").read_text())
    assert data["architecture"] == "fast"
    assert data["window"] == {"duration_s": 5.0, "overlap": 0.25}
    assert data["sample_rate"] == 32000 and data["package_version"] == __version__
    assert data["arguments"]["n_fft"] == 2048


@pytest.mark.parametrize("missing", ["model.json", "model.safetensors"])
def test_missing_file_names_directory_and_file(saved, missing):
    directory, _ = saved
    (directory / missing).unlink()
    with pytest.raises(ModelDirError) as info:
        load_model_dir(directory)
    assert str(directory) in str(info.value) and missing in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelDirError, match="no such folder"):
        load_model_dir(tmp_path / "nowhere")


def test_weights_of_another_shape_raise_checkpoint_error(tmp_path, saved):
    directory, _ = saved
    wider = FastArtifactNet(channels=12, hidden=16)
    other = save_model_dir(tmp_path / "other", wider, _info(wider))
    (directory / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError) as info:
        load_model_dir(directory)
    assert "line_cnn.0.weight" in str(info.value) and "model.safetensors" in str(info.value)


def test_weights_with_missing_keys_raise_checkpoint_error(tmp_path, saved):
    directory, _ = saved
    ablated = FastArtifactNet(periodicity=False, **SMALL)
    other = save_model_dir(tmp_path / "other", ablated, _info(ablated))
    (directory / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="missing keys.*slow_mlp"):
        load_model_dir(directory)


def test_corrupt_files_raise_model_dir_error(saved):
    directory, _ = saved
    (directory / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelDirError, match="safetensors"):
        load_model_dir(directory)
    (directory / "model.json").write_text("{")
    with pytest.raises(ModelDirError, match="model.json"):
        read_model_info(directory)


def test_unknown_architecture_and_bad_arguments(saved):
    directory, _ = saved
    path = directory / "model.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "architecture": "mystery"}))
    with pytest.raises(ModelDirError, match="mystery.*valid model names"):
        load_model_dir(directory)
    path.write_text(json.dumps({**data, "arguments": {"no_such_argument": 1}}))
    with pytest.raises(ModelDirError, match="no_such_argument"):
        load_model_dir(directory)
    del data["threshold"]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelDirError, match="threshold"):
        read_model_info(directory)


def test_save_rejects_a_model_of_another_architecture(tmp_path):
    model = FastArtifactNet(**SMALL)
    with pytest.raises(ValueError, match="cnn14"):
        save_model_dir(tmp_path / "m", model, _info(model, architecture="cnn14"))


def test_default_model_dir_is_inside_the_package():
    import audio_artifacts

    path = default_model_dir()
    assert path.name == "default_model"
    assert path.parent == __import__("pathlib").Path(audio_artifacts.__file__).resolve().parent

"""State-dict layout and checkpoint loading of the PANNs backbones.

Checks what needs no reference code: key/shape/dtype equality with the
official checkpoints' listing, strict loading of a synthetic official-style
checkpoint (every key used), front-end verification, wrong-architecture and
unsafe/broken files.
"""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from audio_artifacts.errors import CheckpointError
from audio_artifacts.models.panns import (
    Cnn14,
    ResNet54,
    WavegramLogmelCnn14,
    load_panns_checkpoint,
)

KEYS_FILE = Path(__file__).with_name("panns_state_dict_keys.json")
"""Every key, shape and dtype of the three official checkpoints (Zenodo 3987831)."""
FRONT_END_KEYS = {
    "spectrogram_extractor.stft.conv_real.weight",
    "spectrogram_extractor.stft.conv_imag.weight",
    "logmel_extractor.melW",
}
ARCHITECTURES = {"Cnn14": Cnn14, "ResNet54": ResNet54, "Wavegram_Logmel_Cnn14": WavegramLogmelCnn14}


def official_listing() -> dict[str, list[tuple[str, list[int], str]]]:
    if not KEYS_FILE.is_file():
        pytest.skip(f"{KEYS_FILE} (listing of the official checkpoints) not available")
    return {k: [tuple(row) for row in v] for k, v in json.loads(KEYS_FILE.read_text()).items()}


@functools.lru_cache(maxsize=None)
def panns_front_end(sample_rate=32000, n_fft=1024, mel_bins=64, fmin=50.0, fmax=14000.0, window="hann"):
    """The three front-end tensors, computed the way PANNs (torchlibrosa) does."""
    librosa = pytest.importorskip("librosa")
    w = librosa.filters.get_window(window, n_fft, fftbins=True)
    n = np.arange(n_fft)
    dft = np.exp(-2j * np.pi / n_fft) ** np.outer(n, n)
    basis = (dft[:, : n_fft // 2 + 1] * w[:, None]).T[:, None, :]
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=mel_bins, fmin=fmin, fmax=fmax).T
    return {
        "spectrogram_extractor.stft.conv_real.weight": torch.tensor(basis.real, dtype=torch.float32),
        "spectrogram_extractor.stft.conv_imag.weight": torch.tensor(basis.imag, dtype=torch.float32),
        "logmel_extractor.melW": torch.tensor(mel, dtype=torch.float32),
    }  # cached: callers copy the dict and never modify the tensors


@pytest.fixture(scope="module")
def models():
    """One instance per architecture, built on first use (they are 80-104 M parameters)."""

    class Built(dict):
        def __missing__(self, name):
            torch.manual_seed(11)
            self[name] = ARCHITECTURES[name]().eval()
            return self[name]

    return Built()


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_state_dict_matches_official_listing(models, architecture):
    listing = official_listing()[architecture]
    model = models[architecture]
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    assert ours == [row for row in listing if row[0] not in FRONT_END_KEYS]
    # The front end's tensors are computed, never stored.
    assert not FRONT_END_KEYS & set(model.state_dict())
    assert all(k in {row[0] for row in listing} for k in FRONT_END_KEYS)


@pytest.fixture(scope="module")
def resnet54_official(tmp_path_factory):
    """A synthetic official ResNet54 checkpoint: random tensors with every listed key/shape."""
    generator = torch.Generator().manual_seed(7)
    front_end = dict(panns_front_end())
    state = {}
    for key, shape, dtype in official_listing()["ResNet54"]:
        if key in front_end:
            state[key] = front_end[key]
        elif dtype == "int64":
            state[key] = torch.randint(0, 1000, shape, generator=generator)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = 0.05 * torch.randn(shape, generator=generator)
    path = tmp_path_factory.mktemp("ckpt") / "ResNet54_synthetic.pth"
    torch.save({"model": state}, path)
    return path, state


def test_synthetic_official_checkpoint_loads_every_key(models, resnet54_official):
    path, state = resnet54_official
    model = load_panns_checkpoint(models["ResNet54"], path)
    loaded = model.state_dict()
    assert set(loaded) == set(state) - FRONT_END_KEYS
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key


def test_wrong_architecture_names_missing_and_unexpected_keys(models, resnet54_official):
    path, _ = resnet54_official
    with pytest.raises(CheckpointError) as error:
        load_panns_checkpoint(models["Wavegram_Logmel_Cnn14"], path)
    message = str(error.value)
    assert str(path) in message
    assert "missing" in message and "pre_conv0.weight" in message
    assert "unexpected" in message and "resnet.layer1.0.conv1.weight" in message
    listing = official_listing()
    n_unexpected = len({r[0] for r in listing["ResNet54"]} - {r[0] for r in listing["Wavegram_Logmel_Cnn14"]})
    assert f"{n_unexpected} unexpected" in message
    assert f"and {n_unexpected - 8} more" in message  # long lists are truncated


@pytest.fixture(scope="module")
def cnn14(models):
    return models["Cnn14"]


def test_safetensors_round_trip_and_misshaped_keys(models, cnn14, tmp_path):
    tensors = tmp_path / "cnn14.safetensors"
    save_file(cnn14.state_dict(), str(tensors))
    waveform = 0.1 * torch.randn(2, 16000)
    with torch.no_grad():
        expected = cnn14(waveform)["clipwise_output"]
        cnn14.fc1.weight.zero_()
        cnn14.bn0.running_mean.fill_(3.0)
        assert not torch.equal(cnn14(waveform)["clipwise_output"], expected)
    load_panns_checkpoint(cnn14, tensors)
    with torch.no_grad():
        assert torch.equal(cnn14(waveform)["clipwise_output"], expected)
    # Cnn14 weights do not fit the Wavegram model: its conv_block2 takes 128 channels.
    with pytest.raises(CheckpointError) as error:
        load_panns_checkpoint(models["Wavegram_Logmel_Cnn14"], tensors)
    message = str(error.value)
    assert "1 mis-shaped: conv_block2.conv1.weight (checkpoint [128, 64, 3, 3], model [128, 128, 3, 3])" in message
    assert "missing" in message and "pre_conv0.weight" in message


def write_front_end_only(path: Path, tensors: dict) -> Path:
    torch.save({"model": tensors}, path)
    return path


@pytest.mark.parametrize(
    ("variant", "expected_words"),
    [
        (dict(sample_rate=16000, fmax=8000.0), ["logmel_extractor.melW", "sample rate"]),
        (dict(window="hamming"), ["conv_real", "window"]),
        (dict(n_fft=512), ["conv_real", "shape [257, 1, 512]", "window size"]),
    ],
)
def test_front_end_of_another_configuration_is_rejected(cnn14, tmp_path, variant, expected_words):
    path = write_front_end_only(tmp_path / "other_front_end.pth", dict(panns_front_end(**variant)))
    before = cnn14.fc1.weight.clone()
    with pytest.raises(CheckpointError) as error:
        load_panns_checkpoint(cnn14, path)
    for word in expected_words:
        assert word in str(error.value)
    assert torch.equal(cnn14.fc1.weight, before)


@pytest.mark.parametrize("wrapped", [True, False], ids=["official", "plain_state_dict"])
def test_matching_front_end_passes_and_then_missing_weights_are_listed(cnn14, tmp_path, wrapped):
    path = tmp_path / "front_end.pth"
    front_end = dict(panns_front_end())
    torch.save({"model": front_end} if wrapped else front_end, path)
    with pytest.raises(CheckpointError) as error:
        load_panns_checkpoint(cnn14, path)
    message = str(error.value)
    assert "81 missing" in message and "bn0.weight" in message and "and 73 more" in message
    partial = {k: v for k, v in panns_front_end().items() if "melW" not in k}
    with pytest.raises(CheckpointError, match="incomplete front end.*melW"):
        load_panns_checkpoint(cnn14, write_front_end_only(tmp_path / "partial.pth", partial))


class _Exploit:
    """Unpickling this would run code (create a file) — the loader must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_code_is_never_run(cnn14, tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"model": {"bn0.weight": _Exploit(marker)}}, handle, protocol=2)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_panns_checkpoint(cnn14, path)
    assert not marker.exists()


def test_missing_broken_and_non_tensor_files(cnn14, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_panns_checkpoint(cnn14, tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.pth: cannot read"):
        load_panns_checkpoint(cnn14, garbage)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="broken.safetensors: cannot read"):
        load_panns_checkpoint(cnn14, broken)
    not_tensors = tmp_path / "numbers.pth"
    torch.save({"model": {"bn0.weight": 1.0, "iteration": 3}}, not_tensors)
    with pytest.raises(CheckpointError, match="not tensors: bn0.weight, iteration"):
        load_panns_checkpoint(cnn14, not_tensors)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_too_short_input_is_a_clear_error(models, architecture):
    model = models[architecture]
    with pytest.raises(ValueError, match="needs at least 10240"):
        model(torch.zeros(1, 10239))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        model(torch.zeros(10240))

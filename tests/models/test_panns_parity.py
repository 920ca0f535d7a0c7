"""Our PANNs backbones against the reference implementation, same weights.

The reference is the PANNs model code shipped on PyPI by ``panns-AT-inference``
(Cnn14, Wavegram_Logmel_Cnn14 and the ResNet bottleneck blocks, on
torchlibrosa's conv-STFT front end). Its package ``__init__`` downloads a
label file at import time, so only its ``models`` module is imported here.
A random-initialised reference model (with randomised BatchNorm statistics, so
that every weight matters) is saved as an official-style checkpoint
``{"model": state_dict}``, loaded into ours with `load_panns_checkpoint`, and
both must give the same outputs to float32 round-off.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from audio_artifacts.models.panns import (
    Cnn14,
    ResNet54,
    WavegramLogmelCnn14,
    load_panns_checkpoint,
)

PANNS_ARGS = dict(
    sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000,
    classes_num=527,
)
TOLERANCE = 1e-4  # relative to the output's largest magnitude


@pytest.fixture(scope="module")
def reference():
    """The reference ``models`` module, imported without its package ``__init__``."""
    if importlib.util.find_spec("torchlibrosa") is None:
        pytest.skip("reference needs torchlibrosa (pip install -e .[test])")
    spec = importlib.util.find_spec("panns_AT_inference")
    if spec is None:
        pytest.skip("reference needs panns-AT-inference (pip install -e .[test])")
    name = "panns_AT_inference"
    saved = {k: v for k, v in sys.modules.items() if k == name or k.startswith(name + ".")}
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = package
    try:
        yield importlib.import_module(name + ".models")
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        sys.modules.update(saved)


class ReferenceResNet54(nn.Module):
    """PANNs ResNet54 assembled from the reference package's own parts.

    The package ships the bottleneck ResNet body, ConvBlock and the front end
    but not the ResNet54 wrapper; the wrapper's wiring here follows the PANNs
    paper (conv block, ResNet body 3-4-6-3, 2x2 average pool, 2048-channel
    conv block, max+mean pooling, fc1, fc_audioset).
    """

    def __init__(self, ref) -> None:
        super().__init__()
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        self.spectrogram_extractor = Spectrogram(
            n_fft=1024, hop_length=320, win_length=1024, window="hann", center=True,
            pad_mode="reflect", freeze_parameters=True,
        )
        self.logmel_extractor = LogmelFilterBank(
            sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000, ref=1.0, amin=1e-10,
            top_db=None, freeze_parameters=True,
        )
        self.bn0 = nn.BatchNorm2d(64)
        self.conv_block1 = ref.ConvBlock(in_channels=1, out_channels=64)
        self.resnet = ref._ResNet(block=ref._ResnetBottleneck, layers=[3, 4, 6, 3],
                                  zero_init_residual=True)
        self.conv_block_after1 = ref.ConvBlock(in_channels=2048, out_channels=2048)
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, 527)

    def forward(self, waveform):
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.conv_block1(x, pool_size=(2, 2), pool_type="avg")
        x = F.avg_pool2d(self.resnet(x), kernel_size=(2, 2))
        x = self.conv_block_after1(x, pool_size=(1, 1), pool_type="avg")
        x = torch.mean(x, dim=3)
        x = torch.max(x, dim=2)[0] + torch.mean(x, dim=2)
        x = F.relu(self.fc1(x))
        return {"clipwise_output": torch.sigmoid(self.fc_audioset(x)), "embedding": x}


def randomise_batchnorm(model: nn.Module, seed: int) -> None:
    """Random BatchNorm scales, shifts and running statistics (defaults are 1/0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                shape = module.weight.shape
                module.weight.copy_(1.0 + 0.1 * torch.randn(shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(shape, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))


def assert_same_outputs(reference_model, our_model, n_samples=16000, seed=3):
    waveform = 0.1 * torch.randn(2, n_samples, generator=torch.Generator().manual_seed(seed))
    reference_model.eval()
    our_model.eval()
    with torch.no_grad():
        expected = reference_model(waveform)
        got = our_model(waveform)
    for key in ("clipwise_output", "embedding"):
        assert got[key].shape == expected[key].shape
        scale = expected[key].abs().max().item()
        assert scale > 1e-3, f"{key} is degenerate; the test would prove nothing"
        error = (got[key] - expected[key]).abs().max().item()
        assert error <= TOLERANCE * scale, f"{key}: max difference {error:.3g} (scale {scale:.3g})"


def save_official_style(model: nn.Module, path) -> None:
    torch.save({"model": model.state_dict()}, path)


@pytest.mark.parametrize(
    ("reference_name", "ours"),
    [("Cnn14", Cnn14), ("Wavegram_Logmel_Cnn14", WavegramLogmelCnn14)],
)
def test_same_outputs_as_reference_with_the_same_checkpoint(reference, reference_name, ours, tmp_path):
    torch.manual_seed(0)
    reference_model = getattr(reference, reference_name)(**PANNS_ARGS)
    randomise_batchnorm(reference_model, seed=1)
    checkpoint = tmp_path / "official.pth"
    save_official_style(reference_model, checkpoint)
    model = load_panns_checkpoint(ours(), checkpoint)
    assert_same_outputs(reference_model, model)


def test_resnet54_same_outputs_as_reference_blocks(reference, tmp_path):
    torch.manual_seed(0)
    reference_model = ReferenceResNet54(reference)
    randomise_batchnorm(reference_model, seed=2)
    checkpoint = tmp_path / "resnet54.pth"
    save_official_style(reference_model, checkpoint)
    model = load_panns_checkpoint(ResNet54(), checkpoint)
    assert_same_outputs(reference_model, model)

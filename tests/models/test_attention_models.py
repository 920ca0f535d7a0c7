"""The attention models: shapes, frame outputs, padding, recipe hooks, pretrained keys, model dirs, ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audio_artifacts import __version__
from audio_artifacts.errors import CheckpointError
from audio_artifacts.features import slaney_mel_filterbank
from audio_artifacts.inference.export import export_onnx
from audio_artifacts.models.model_dir import ModelInfo, load_model_dir, save_model_dir
from audio_artifacts.models.panns.checkpoint import dft_basis
from audio_artifacts.models.registry import MODELS, build_model
from audio_artifacts.training.config import load_config
from audio_artifacts.training.train import build_training_model
from audio_artifacts.windows import WindowSpec

RATE = 32000
CONFIGS = Path(__file__).parents[2] / "configs"
KEYS_FILE = Path(__file__).with_name("panns_state_dict_keys.json")
TINY = {
    "cnn14_att": dict(channels=[8, 16, 16]),
    "spectrogram_transformer": dict(d_model=16, layers=1, heads=2, feedforward=32),
    "wavegram_att": dict(channels=[8, 16], d_model=16, layers=1, heads=2, feedforward=32),
}
"""Tiny sizes: same graphs as the defaults, few weights. Frame hops: 8, 4 and 4 log-mel hops."""
HOPS = {"cnn14_att": 8 * 320, "spectrogram_transformer": 4 * 320, "wavegram_att": 4 * 320}


def tiny(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name, **TINY[name]).eval()


def waveforms(n: int, samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / RATE
    return 1e-2 * torch.randn(n, samples, generator=g) + 3e-3 * torch.sin(2 * np.pi * 2500.0 * t)


@pytest.mark.parametrize("name", sorted(TINY))
def test_logits_and_frame_probabilities_have_the_documented_shapes(name):
    model = tiny(name)
    samples = 2 * RATE
    x, lengths = waveforms(3, samples), torch.tensor([samples, RATE, 20000])
    with torch.no_grad():
        logits = model(x, lengths)
        frames = model.frame_probabilities(x, lengths)
        whole = model.frame_probabilities(x)
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    n_frames = (samples // 320 + 1) // (HOPS[name] // 320)
    assert frames.shape == whole.shape == (3, n_frames)
    assert model.frame_hop_s == pytest.approx(HOPS[name] / RATE)
    assert ((frames >= 0) & (frames <= 1)).all()
    # frames of the padding say nothing; every frame that starts in the real part speaks
    real = torch.ceil(lengths * n_frames / samples).long()
    for row, count in enumerate(real.tolist()):
        assert (frames[row, count:] == 0).all() and (frames[row, :count] > 0).all()


@pytest.mark.parametrize("name", sorted(TINY))
def test_clip_logit_is_the_attention_weighted_frame_logit(name):
    model = tiny(name)
    x, lengths = waveforms(2, 2 * RATE, seed=4), torch.tensor([2 * RATE, 30000])
    with torch.no_grad():
        clip, frame_logits, weights, mask = model.pooled(x, lengths)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert (weights[mask == 0] == 0).all()
    torch.testing.assert_close(clip, (weights * frame_logits).sum(1))
    torch.testing.assert_close(clip, model(x, lengths))


@pytest.mark.parametrize("name", sorted(TINY))
def test_registry_rebuilds_each_model_from_its_arguments(name):
    model = tiny(name)
    arguments = model.arguments()
    assert isinstance(model, MODELS[name])
    rebuilt = build_model(name, **arguments)
    assert rebuilt.arguments() == arguments
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = waveforms(2, RATE)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model(x))


@pytest.mark.parametrize("name", sorted(TINY))
def test_parameter_groups_cover_every_parameter_once(name):
    model = tiny(name)
    groups = model.parameter_groups()
    assert set(groups) == {"backbone", "head"} and groups["backbone"] and groups["head"]
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


@pytest.mark.parametrize(("name", "unfrozen"), [("cnn14_att", ("fc1", "conv_block3")),
                                                ("wavegram_att", ("conv_block2",))])
def test_a_frozen_trunk_trains_only_its_last_blocks_and_keeps_its_statistics(name, unfrozen):
    torch.manual_seed(0)
    model = build_model(name, **TINY[name], freeze_backbone=True, unfreeze_last=len(unfrozen))
    trainable = {n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable == set(unfrozen)
    assert all(p.requires_grad for p in model.parameter_groups()["head"])
    model.train()
    assert not model.backbone.bn0.training  # frozen BatchNorm: running statistics stay
    assert model.backbone.conv_block2.bn1.training is ("conv_block2" in unfrozen)
    with pytest.raises(ValueError, match="unfreeze_last"):
        build_model(name, **TINY[name], freeze_backbone=True, unfreeze_last=9)


class _Recorder(torch.nn.Module):
    """A stand-in SpecAugment that records the maps it is given and passes them on."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return x


@pytest.mark.parametrize("name", sorted(TINY))
def test_spec_augment_slot_gets_the_log_mel_map_in_training_only(name):
    model = tiny(name)
    assert model.spec_augment is None
    recorder = _Recorder()
    model.spec_augment = recorder
    assert model.backbone.spec_augment is recorder
    assert "spec_augment" not in dict(model.named_children())
    x = waveforms(2, RATE)
    with torch.no_grad():
        model(x)
        assert recorder.shapes == []
        model.train()(x)
    assert recorder.shapes == [(2, 1, RATE // 320 + 1, 64)]
    model.spec_augment = None
    assert model.backbone.spec_augment is None


def test_model_directory_round_trip_gives_identical_logits(tmp_path):
    for name in sorted(TINY):
        model = tiny(name, seed=3)
        info = ModelInfo(name="t", version="0", architecture=name, arguments=model.arguments(),
                         sample_rate=RATE, window=WindowSpec(2.0, 0.25), threshold=0.4,
                         package_version=__version__)
        directory = save_model_dir(tmp_path / name, model, info)
        loaded, read = load_model_dir(directory)
        assert read.architecture == name and read.arguments == model.arguments()
        x, lengths = waveforms(2, 2 * RATE, seed=5), torch.tensor([2 * RATE, 25000])
        with torch.no_grad():
            torch.testing.assert_close(loaded(x, lengths), model(x, lengths), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_onnx_export_passes_its_parity_check(name, tmp_path):
    model = tiny(name, seed=1)
    info = ModelInfo(name="t", version="0", architecture=name, arguments=model.arguments(),
                     sample_rate=RATE, window=WindowSpec(2.0, 0.25), threshold=0.5,
                     package_version=__version__)
    directory = save_model_dir(tmp_path / "model", model, info)
    report = export_onnx(directory, tmp_path / "model.onnx")
    assert Path(report.onnx_path).is_file() and report.window_samples == 2 * RATE
    assert report.max_abs_logit_diff <= report.logit_tolerance
    assert report.max_abs_probability_diff <= report.probability_tolerance


# --- pretrained: official key names and shapes, fake values --------------------------------


def official_checkpoint(path: Path, architecture: str) -> dict[str, torch.Tensor]:
    """A checkpoint with every key and shape of the official one; a distinct constant per tensor."""
    import json

    if not KEYS_FILE.is_file():
        pytest.skip(f"{KEYS_FILE} (listing of the official checkpoints) not available")
    real, imag = dft_basis(torch.hann_window(1024, periodic=True))
    front_end = {
        "spectrogram_extractor.stft.conv_real.weight": torch.tensor(real, dtype=torch.float32),
        "spectrogram_extractor.stft.conv_imag.weight": torch.tensor(imag, dtype=torch.float32),
        "logmel_extractor.melW": torch.from_numpy(slaney_mel_filterbank(RATE, 1024, 64, 50.0, 14000.0)),
    }
    state = {}
    for index, (key, shape, dtype) in enumerate(json.loads(KEYS_FILE.read_text())[architecture]):
        if key in front_end:
            state[key] = front_end[key]
        elif dtype == "int64":
            state[key] = torch.tensor(index)
        else:
            state[key] = torch.full(shape, 0.5 + index / 1000)
    torch.save({"model": state, "iteration": 1}, path)  # the official layout
    return state


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    made = {}
    for architecture in ("Cnn14", "Wavegram_Logmel_Cnn14"):
        path = root / f"{architecture}_fake.pth"
        made[architecture] = (path, official_checkpoint(path, architecture))
    return made


FRONT_END = ("spectrogram_extractor.", "logmel_extractor.")


def test_cnn14_att_uses_the_trunk_and_fc1_and_leaves_the_audioset_head(official):
    path, state = official["Cnn14"]
    model = build_model("cnn14_att", pretrained=str(path))
    report = model.pretrained_load
    assert set(report.left) == {"fc_audioset.weight", "fc_audioset.bias"}
    assert set(report.used) == set(model.backbone.state_dict())
    assert set(report.used) | set(report.left) == {k for k in state if not k.startswith(FRONT_END)}
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert model.arguments()["pretrained"] is None  # a rebuilt model reads its own weights


def test_wavegram_att_uses_branches_and_first_blocks_and_leaves_the_replaced_ones(official, tmp_path):
    path, state = official["Wavegram_Logmel_Cnn14"]
    cfg = load_config(CONFIGS / "wavegram_att.yaml", [f"model.pretrained={path}"])  # one config line
    model = build_training_model(cfg)
    report = model.pretrained_load
    assert {k.split(".")[0] for k in report.used} == {
        "pre_conv0", "pre_bn0", "pre_block1", "pre_block2", "pre_block3", "pre_block4",
        "bn0", "conv_block1", "conv_block2", "conv_block3", "conv_block4",
    }
    assert {k.split(".")[0] for k in report.left} == {"conv_block5", "conv_block6", "fc1", "fc_audioset"}
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert "loaded" in report.summary() and "conv_block5" in report.summary()


def test_a_checkpoint_of_another_architecture_or_width_is_refused_with_the_keys(official):
    cnn14_path, _ = official["Cnn14"]
    with pytest.raises(CheckpointError) as error:
        build_model("wavegram_att", pretrained=str(cnn14_path))
    message = str(error.value)
    assert str(cnn14_path) in message and "pre_conv0.weight" in message and "mis-shaped" in message
    # CNN14's first two blocks fit, but fc1 follows the last block's width: not CNN14's any more
    with pytest.raises(CheckpointError) as error:
        build_model("cnn14_att", channels=[64, 128], pretrained=str(cnn14_path))
    assert str(error.value).endswith(
        "2 mis-shaped: fc1.weight (checkpoint [2048, 2048], model [128, 128]), "
        "fc1.bias (checkpoint [2048], model [128])"
    )


def test_spectrogram_transformer_has_no_checkpoint_to_start_from(official):
    cfg = load_config(CONFIGS / "spectrogram_transformer.yaml",
                      [f"model.pretrained={official['Cnn14'][0]}"])
    with pytest.raises(Exception, match="cannot start from a PANNs checkpoint"):
        build_training_model(cfg)


def test_real_frames_never_attend_to_padding_frames():
    from audio_artifacts.models.attention.transformer import TimeTransformer

    torch.manual_seed(0)
    encoder = TimeTransformer(12, d_model=16, layers=2, heads=4, feedforward=32).eval()
    frames = torch.randn(2, 10, 12)
    mask = torch.ones(2, 10)
    mask[1, 6:] = 0
    changed = frames.clone()
    changed[1, 6:] = 100 * torch.randn(4, 12)
    with torch.no_grad():
        a, b = encoder(frames, mask), encoder(changed, mask)
        unmasked = encoder(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    torch.testing.assert_close(a[0], b[0])
    assert not torch.allclose(unmasked[1, :6], a[1, :6], atol=1e-3)  # without the mask they would

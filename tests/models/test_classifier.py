"""ArtifactClassifier: logits, freezing, learning-rate groups, frozen BatchNorm, errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from audio_artifacts.errors import CheckpointError
from audio_artifacts.models.classifier import UNFREEZABLE_BLOCKS, ArtifactClassifier

WAVEFORM_SAMPLES = 16000  # 0.5 s at 32 kHz: enough frames for every pooling stage


def trainable_backbone_blocks(model: ArtifactClassifier) -> set[str]:
    """The listed blocks that have trainable parameters."""
    names = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    blocks = set()
    for name in names:
        matches = [b for b in UNFREEZABLE_BLOCKS[model.arguments()["backbone_name"]]
                   if name.startswith(b + ".")]
        assert matches, f"{name} is trainable but not in an unfreezable block"
        blocks.update(matches)
    return blocks


def assert_groups_partition_trainable(model: ArtifactClassifier) -> None:
    groups = model.parameter_groups()
    assert set(groups) == {"backbone", "head"}
    ids = {name: {id(p) for p in params} for name, params in groups.items()}
    assert not ids["backbone"] & ids["head"]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert ids["backbone"] | ids["head"] == trainable
    assert ids["head"] == {id(p) for p in model.head.parameters()}
    assert all(p.requires_grad for params in groups.values() for p in params)


def build_on_meta(*args, **kwargs) -> ArtifactClassifier:
    """Structure only: parameters on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        return ArtifactClassifier(*args, **kwargs)


@pytest.mark.parametrize("unfreeze_last", [0, 1, 2, 3])
@pytest.mark.parametrize("backbone", ["cnn14", "resnet54", "wavegram_logmel_cnn14"])
def test_unfreeze_last_n_blocks(backbone, unfreeze_last):
    model = build_on_meta(backbone, unfreeze_last=unfreeze_last)
    name = model.arguments()["backbone_name"]
    assert trainable_backbone_blocks(model) == set(UNFREEZABLE_BLOCKS[name][:unfreeze_last])
    assert all(p.requires_grad for p in model.head.parameters())
    assert_groups_partition_trainable(model)
    if unfreeze_last == 0:
        assert model.parameter_groups()["backbone"] == []


def test_unfrozen_backbone_trains_everything_on_the_embedding_path():
    model = build_on_meta("Cnn14", freeze_backbone=False)
    frozen = {n for n, p in model.backbone.named_parameters() if not p.requires_grad}
    # fc_audioset is off the embedding's path: it never gets a gradient.
    assert frozen == {"fc_audioset.weight", "fc_audioset.bias"}
    assert_groups_partition_trainable(model)


@pytest.fixture(scope="module")
def classifier():
    """One real Cnn14 classifier (two-logit head, last block unfrozen), shared to save builds."""
    torch.manual_seed(0)
    return ArtifactClassifier("cnn14", unfreeze_last=1, hidden=16, two_logits=True)


def test_training_updates_only_trainable_parameters_and_unfrozen_batchnorm(classifier):
    model = classifier
    waveform = 0.1 * torch.randn(2, WAVEFORM_SAMPLES)
    frozen_bn = model.backbone.conv_block5.bn2
    trained_bn = model.backbone.conv_block6.bn2
    frozen_stats = frozen_bn.running_mean.clone()
    trained_stats = trained_bn.running_mean.clone()

    model.train()
    assert not frozen_bn.training and not model.backbone.bn0.training
    assert trained_bn.training and model.head.training
    logits = model(waveform)
    assert logits.shape == (2,)
    logits.sum().backward()
    # Frozen BatchNorm keeps its statistics; the unfrozen block's are updated.
    assert torch.equal(frozen_bn.running_mean, frozen_stats)
    assert not torch.equal(trained_bn.running_mean, trained_stats)
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            assert parameter.grad is None, name
    assert model.backbone.conv_block6.conv2.weight.grad.abs().sum() > 0
    assert model.head[0].weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    model.eval()
    assert all(not m.training for m in model.modules())


def test_two_logit_head_returns_log_odds(classifier):
    model = classifier.eval()
    waveform = 0.1 * torch.randn(3, WAVEFORM_SAMPLES)
    with torch.no_grad():
        embedding = model.backbone(waveform)["embedding"]
        pair = model.head(embedding)
        logits = model(waveform)
    assert logits.shape == (3,)
    assert torch.allclose(logits, pair[:, 1] - pair[:, 0], atol=1e-6)
    # l1 - l0 is the log-odds of the two-class softmax.
    assert torch.allclose(torch.sigmoid(logits), torch.softmax(pair, dim=1)[:, 1], atol=1e-6)
    one_logit_head = build_on_meta("cnn14", hidden=16).head
    assert one_logit_head[-1].out_features == 1 and model.head[-1].out_features == 2


class ZeroMap(nn.Module):
    """A stand-in augmentation that blanks the feature map and records its shape."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return torch.zeros_like(x)


def test_spec_augment_slot_reaches_the_backbone_and_only_acts_in_training(classifier):
    model = classifier
    assert model.spec_augment is None
    augment = ZeroMap()
    model.spec_augment = augment
    try:
        assert model.backbone.spec_augment is augment and model.spec_augment is augment
        assert "spec_augment" not in dict(model.named_children())
        waveform = 0.1 * torch.randn(2, WAVEFORM_SAMPLES)
        with torch.no_grad():
            model.eval()
            model(waveform)
            assert augment.shapes == []
            model.train()
            model(waveform)
        assert augment.shapes == [(2, 1, WAVEFORM_SAMPLES // 320 + 1, 64)]
    finally:
        model.spec_augment = None
        model.eval()
    assert model.backbone.spec_augment is None


def test_arguments_rebuild_the_same_model():
    model = build_on_meta("resnet54", hidden=64, dropout=0.25, two_logits=True, unfreeze_last=1)
    arguments = model.arguments()
    assert json.loads(json.dumps(arguments)) == arguments
    assert arguments["backbone_name"] == "ResNet54" and arguments["pretrained"] is None
    rebuilt = build_on_meta(**arguments)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    assert trainable_backbone_blocks(rebuilt) == {"resnet.layer4"}


def test_pretrained_checkpoint_is_loaded_and_wrong_architecture_is_named(classifier, tmp_path):
    source = classifier.backbone
    path = tmp_path / "cnn14_backbone.pt"
    torch.save({"model": source.state_dict()}, path)
    model = ArtifactClassifier("cnn14", hidden=8, pretrained=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert model.arguments()["pretrained"] is None
    with pytest.raises(CheckpointError) as error:
        ArtifactClassifier("wavegram_logmel_cnn14", pretrained=str(path))
    assert "pre_conv0.weight" in str(error.value) and "conv_block2.conv1.weight" in str(error.value)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (dict(backbone_name="vgg16"), "unknown backbone 'vgg16'"),
        (dict(unfreeze_last=4), "unfreeze_last must be an integer from 0 to 3"),
        (dict(unfreeze_last=-1), "unfreeze_last"),
        (dict(freeze_backbone=False, unfreeze_last=2), "set unfreeze_last=0"),
        (dict(hidden=0), "hidden must be a positive integer"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(backbone_kwargs=dict(window_len=1024)), "bad backbone_kwargs for WavegramLogmelCnn14"),
        (dict(backbone_kwargs=dict(hop_size=160)), "needs hop_size=320"),
    ],
)
def test_invalid_arguments_raise_clear_errors(arguments, words):
    with pytest.raises(ValueError, match=words):
        ArtifactClassifier(**arguments)

"""The registry maps names to classes explicitly and rebuilds models from arguments()."""

from __future__ import annotations

import pytest
import torch

from audio_artifacts.models.classifier import ArtifactClassifier
from audio_artifacts.models.fast import FastArtifactNet
from audio_artifacts.models.registry import MODELS, PANNS_BACKBONES, build_model, model_names


def test_every_registry_name_is_a_class_with_the_model_conventions():
    assert set(MODELS) == {
        "fast", "cnn14", "resnet54", "wavegram_logmel_cnn14", "dsp_baseline",
        "cnn14_att", "spectrogram_transformer", "wavegram_att",
    }
    for name, cls in MODELS.items():
        assert isinstance(cls, type), name
        for method in ("arguments", "parameter_groups"):
            assert callable(getattr(cls, method)), (name, method)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        build_model("cnn15")
    message = str(info.value)
    assert "cnn15" in message
    for name in model_names():
        assert name in message


def test_fast_model_rebuilds_from_its_arguments():
    model = build_model("fast", channels=8, hidden=16)
    assert isinstance(model, FastArtifactNet)
    again = build_model("fast", **model.arguments())
    assert again.arguments() == model.arguments()
    assert sum(p.numel() for p in again.parameters()) == sum(p.numel() for p in model.parameters())


def test_panns_names_imply_their_backbone():
    for name, backbone in PANNS_BACKBONES.items():
        assert MODELS[name] is ArtifactClassifier
    # a small backbone keeps this test quick: 64 mel bins are fixed, widths are not configurable,
    # so only check the argument plumbing on the cheapest one
    model = build_model("cnn14")
    assert model.arguments()["backbone_name"] == "Cnn14"
    rebuilt = build_model("cnn14", **model.arguments())
    assert rebuilt.arguments() == model.arguments()
    with pytest.raises(ValueError, match="ResNet54"):
        build_model("resnet54", backbone_name="Cnn14")


def test_parameter_groups_cover_every_parameter_once():
    model = build_model("fast")
    groups = model.parameter_groups()
    assert set(groups) == {"backbone", "head"}
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(isinstance(p, torch.nn.Parameter) for p in groups["head"])

"""The one explicit map from model names to model classes.

A model directory stores ``architecture`` (a key of `MODELS`) and the model's
``arguments()``; `build_model` rebuilds it from those two, with no training
code involved.

The three PANNs names all map to `ArtifactClassifier`; `PANNS_BACKBONES`
says which backbone each name stands for, and `build_model` fills in the
``backbone_name`` argument from it (so ``build_model("cnn14")`` works, and so
does rebuilding from the classifier's own ``arguments()``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from audio_artifacts.models.attention import Cnn14Attention, SpectrogramTransformer, WavegramAttention
from audio_artifacts.models.classifier import ArtifactClassifier
from audio_artifacts.models.dsp_baseline import DspBaseline
from audio_artifacts.models.fast import FastArtifactNet

MODELS: dict[str, type[nn.Module]] = {
    "fast": FastArtifactNet,
    "cnn14": ArtifactClassifier,
    "resnet54": ArtifactClassifier,
    "wavegram_logmel_cnn14": ArtifactClassifier,
    "dsp_baseline": DspBaseline,
    "cnn14_att": Cnn14Attention,
    "spectrogram_transformer": SpectrogramTransformer,
    "wavegram_att": WavegramAttention,
}
"""Model name -> class. The default CPU model is ``"fast"``."""

PANNS_BACKBONES: dict[str, str] = {
    "cnn14": "Cnn14",
    "resnet54": "ResNet54",
    "wavegram_logmel_cnn14": "WavegramLogmelCnn14",
}
"""Registry name of a PANNs-based classifier -> its backbone class name."""

DEFAULT_MODEL = "fast"


def model_names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with constructor arguments ``kwargs``.

    Parameters
    ----------
    name
        A key of `MODELS`, e.g. ``"fast"`` or ``"wavegram_logmel_cnn14"``.
    **kwargs
        Constructor arguments (as returned by the model's ``arguments()``).
        For the PANNs names, ``backbone_name`` is implied by ``name``; giving a
        different one is an error.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the valid names), or a
        ``backbone_name`` that contradicts ``name``.
    """
    if name not in MODELS:
        raise ValueError(
            f"unknown model {name!r}; valid model names: {', '.join(model_names())}"
        )
    if name in PANNS_BACKBONES:
        backbone = PANNS_BACKBONES[name]
        given = kwargs.setdefault("backbone_name", backbone)
        if given != backbone:
            raise ValueError(
                f"model {name!r} uses backbone {backbone!r}, but backbone_name={given!r} was given"
            )
    return MODELS[name](**kwargs)

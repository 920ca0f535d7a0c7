"""Artifact classifier: a PANNs backbone's embedding -> a small head -> logits.

The prototype's recipe: the 2048-d ``embedding`` -> Linear(2048, hidden) ->
ReLU -> Dropout -> Linear(hidden, 2 or 1); the backbone frozen except its
last N blocks; two learning rates (backbone / head).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from audio_artifacts.models.backbone_slots import BackboneSlots
from audio_artifacts.models.freezing import check_freezing, set_trainable
from audio_artifacts.models.panns import (
    EMBEDDING_SIZE,
    Cnn14,
    PannsBackbone,
    ResNet54,
    WavegramLogmelCnn14,
    load_panns_checkpoint,
)

BACKBONES: dict[str, type[PannsBackbone]] = {
    "Cnn14": Cnn14,
    "ResNet54": ResNet54,
    "WavegramLogmelCnn14": WavegramLogmelCnn14,
}
"""Backbone name -> class (the registry's lower-case names are accepted too)."""

BACKBONE_ALIASES: dict[str, str] = {
    "cnn14": "Cnn14",
    "resnet54": "ResNet54",
    "wavegram_logmel_cnn14": "WavegramLogmelCnn14",
}

UNFREEZABLE_BLOCKS: dict[str, tuple[str, ...]] = {
    "Cnn14": ("conv_block6", "conv_block5", "conv_block4"),
    "ResNet54": ("resnet.layer4", "resnet.layer3", "resnet.layer2"),
    "WavegramLogmelCnn14": ("conv_block6", "conv_block5", "conv_block4"),
}
"""The blocks ``unfreeze_last = 1, 2, 3`` makes trainable, last block first."""

NEVER_TRAINED = ("fc_audioset",)
"""Backbone layers off the embedding's path: no gradient ever reaches them, so
they stay frozen (DDP also rejects trainable parameters that get no gradient)."""


def canonical_backbone_name(name: str) -> str:
    """``"cnn14"`` or ``"Cnn14"`` -> ``"Cnn14"``; ValueError for unknown names."""
    canonical = BACKBONE_ALIASES.get(name, name)
    if canonical not in BACKBONES:
        valid = ", ".join([*BACKBONES, *BACKBONE_ALIASES])
        raise ValueError(f"unknown backbone {name!r}; valid names: {valid}")
    return canonical


class ArtifactClassifier(BackboneSlots, nn.Module):
    """PANNs backbone + MLP head -> artifact logits.

    Parameters
    ----------
    backbone_name
        ``"Cnn14"``, ``"ResNet54"`` or ``"WavegramLogmelCnn14"`` (or the
        registry names ``"cnn14"``, ``"resnet54"``, ``"wavegram_logmel_cnn14"``).
    backbone_kwargs
        Constructor arguments of the backbone (sample rate, window ...).
    hidden
        Width of the head's hidden layer.
    dropout
        Dropout probability in the head, in [0, 1).
    two_logits
        Two-class head as in the prototype (the logit returned is
        ``l1 - l0``, the artifact log-odds of its softmax); else one logit.
    pretrained
        Path of an official PANNs checkpoint (or a backbone state dict)
        loaded into the backbone with `load_panns_checkpoint`.
    freeze_backbone
        Freeze the backbone except its last ``unfreeze_last`` blocks.
    unfreeze_last
        0 to 3; which blocks: see `UNFREEZABLE_BLOCKS`. Layers after them
        (``fc1``; ResNet54's ``conv_block_after1``) stay frozen, as in the
        prototype; only its listed blocks and the head train.

    Notes
    -----
    BatchNorm layers whose parameters are all frozen stay in eval mode while
    the model trains (`BackboneSlots.train`): otherwise each training batch would
    replace the pretrained normalisation statistics with batch statistics
    and keep updating the running averages, so a "frozen" backbone would
    still drift towards our small, artifact-heavy batches and its features
    at inference would differ from those the head was trained on.
    """

    def __init__(
        self,
        backbone_name: str = "WavegramLogmelCnn14",
        backbone_kwargs: dict[str, Any] | None = None,
        hidden: int = 256,
        dropout: float = 0.5,
        two_logits: bool = False,
        pretrained: str | None = None,
        freeze_backbone: bool = True,
        unfreeze_last: int = 0,
    ) -> None:
        super().__init__()
        name = canonical_backbone_name(backbone_name)
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden <= 0:
            raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        blocks = UNFREEZABLE_BLOCKS[name]
        check_freezing(freeze_backbone, unfreeze_last, blocks)
        if backbone_kwargs is not None and not isinstance(backbone_kwargs, dict):
            raise ValueError(f"backbone_kwargs must be a dict, got {type(backbone_kwargs).__name__}")
        self._arguments: dict[str, Any] = {
            "backbone_name": name,
            "backbone_kwargs": dict(backbone_kwargs or {}),
            "hidden": hidden,
            "dropout": float(dropout),
            "two_logits": bool(two_logits),
            "pretrained": None if pretrained is None else str(pretrained),
            "freeze_backbone": bool(freeze_backbone),
            "unfreeze_last": unfreeze_last,
        }
        try:
            self.backbone = BACKBONES[name](**(backbone_kwargs or {}))
        except TypeError as error:
            raise ValueError(f"bad backbone_kwargs for {name}: {error}") from error
        if pretrained is not None:
            load_panns_checkpoint(self.backbone, pretrained)
        self.head = nn.Sequential(
            nn.Linear(EMBEDDING_SIZE, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 2 if two_logits else 1),
        )
        self.two_logits = bool(two_logits)
        set_trainable(self.backbone, freeze_backbone, blocks[:unfreeze_last], NEVER_TRAINED)

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) to rebuild this model.

        ``pretrained`` is returned as ``None``: a rebuilt model gets its
        weights from its model directory, not from the original checkpoint.
        """
        arguments = dict(self._arguments, backbone_kwargs=dict(self._arguments["backbone_kwargs"]))
        arguments["pretrained"] = None
        return arguments

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters: ``"backbone"`` (unfrozen blocks) and ``"head"``."""
        return {
            "backbone": [p for p in self.backbone.parameters() if p.requires_grad],
            "head": [p for p in self.head.parameters() if p.requires_grad],
        }

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``waveform (B, samples)`` at the backbone's rate -> artifact logits ``(B,)``.

        ``lengths`` (``(B,)`` int64, None = all real): real samples at the start
        of each row; the padding is zeroed and left out of the time pooling.
        """
        logits = self.head(self.backbone(waveform, lengths)["embedding"])
        if self.two_logits:
            return logits[:, 1] - logits[:, 0]
        return logits[:, 0]

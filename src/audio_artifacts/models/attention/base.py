"""What the three attention models share: trunk -> time encoder -> attention pooling.

A model is a *backbone* (a `LogMelTrunk`: waveform -> frame features
``(B, T, C)``; PANNs-named layers where a checkpoint can fill them), an
*encoder* over time (transformer layers, or none) and `AttentionPooling`.
The clip logit is the attention-weighted mean of the frame logits over the
real frames; `frame_probabilities` gives the frame decisions for event times.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from audio_artifacts.models.attention.pooling import AttentionPooling
from audio_artifacts.models.backbone_slots import BackboneSlots
from audio_artifacts.models.freezing import check_freezing, set_trainable
from audio_artifacts.models.masking import check_lengths, pooled_frame_mask
from audio_artifacts.models.panns.base import LogMelTrunk
from audio_artifacts.models.panns.partial import PartialLoad, load_matching_keys


class NoEncoder(nn.Module):
    """The encoder slot of a model that pools the trunk's frames directly."""

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return frames


class FrameAttentionModel(BackboneSlots, nn.Module):
    """Base class: ``forward(waveform (B, samples), lengths=None) -> logits (B,)``.

    Subclasses build their backbone and encoder, then call `_assemble`.

    Attributes
    ----------
    backbone : LogMelTrunk
        Frame features; the ``"backbone"`` parameter group.
    encoder : nn.Module
        ``(frames (B, T, C), mask (B, T) | None) -> (B, T, D)``; ``"head"`` group.
    pooling : AttentionPooling
        ``"head"`` group.
    pretrained_load : PartialLoad or None
        What loading ``pretrained`` used and left.
    """

    backbone: LogMelTrunk
    encoder: nn.Module
    pooling: AttentionPooling

    def _assemble(self, arguments: dict[str, Any], backbone: LogMelTrunk, encoder: nn.Module,
                  width: int, unfreezable: tuple[str, ...] = ()) -> None:
        """Register the parts; load ``arguments["pretrained"]``; apply the freezing arguments."""
        freeze = bool(arguments.get("freeze_backbone", False))
        unfreeze_last = arguments.get("unfreeze_last", 0)
        check_freezing(freeze, unfreeze_last, unfreezable)
        self._arguments = dict(arguments)
        self.backbone = backbone
        self.encoder = encoder
        self.pooling = AttentionPooling(width)
        pretrained = arguments.get("pretrained")
        self.pretrained_load: PartialLoad | None = (
            None if pretrained is None else load_matching_keys(self.backbone, pretrained)
        )
        set_trainable(self.backbone, freeze, unfreezable[:unfreeze_last])

    @property
    def frame_hop_s(self) -> float:
        """Seconds between the starts of consecutive frames of `frame_probabilities`."""
        return self.backbone.frame_hop_samples / self.backbone.sample_rate

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) to rebuild this model.

        ``pretrained`` is returned as ``None``: a rebuilt model gets its
        weights from its model directory, not from the original checkpoint.
        """
        arguments = {k: list(v) if isinstance(v, tuple) else v for k, v in self._arguments.items()}
        if "pretrained" in arguments:
            arguments["pretrained"] = None
        return arguments

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters: ``"backbone"`` (the trunk) and ``"head"`` (encoder + pooling)."""
        head = [*self.encoder.parameters(), *self.pooling.parameters()]
        return {
            "backbone": [p for p in self.backbone.parameters() if p.requires_grad],
            "head": [p for p in head if p.requires_grad],
        }

    def pooled(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(clip logits (B,), frame logits (B, T), attention weights (B, T), frame mask (B, T) | None)``.

        ``lengths`` (``(B,)`` int64, None = all real): real samples at the
        start of each row; the padding is zeroed, its frames are no keys of
        the encoder and get no attention weight.
        """
        frames = self.backbone(waveform, lengths)
        mask = None
        if lengths is not None:
            mask = pooled_frame_mask(check_lengths(waveform, lengths), frames.shape[1], waveform.shape[-1])
        clip, frame_logits, weights = self.pooling(self.encoder(frames, mask), mask)
        return clip, frame_logits, weights, mask

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``waveform (B, samples)`` at the model's rate -> artifact logits ``(B,)``."""
        return self.pooled(waveform, lengths)[0]

    def frame_probabilities(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Artifact probability of each frame ``(B, T)``; 0 on padding frames.

        Frame ``t`` starts at ``t * frame_hop_s`` seconds into the window.
        """
        _, frame_logits, _, mask = self.pooled(waveform, lengths)
        probabilities = torch.sigmoid(frame_logits.float())
        return probabilities if mask is None else probabilities * mask

"""Decision-level attention pooling over time (PANNs' sound-event-detection head).

Each frame is classified and scored; a softmax of the (clamped) scores over
the real frames weights the frame decisions into one clip decision. Unlike
PANNs, which pools sigmoid probabilities, the frame *logits* are pooled, so
the clip output stays a logit (our classifiers return logits; probabilities
are made once, where results are made).
"""

from __future__ import annotations

import torch
from torch import nn

from audio_artifacts.models.panns.blocks import init_conv_or_linear

MASKED_SCORE = -1.0e4
"""Score of a padding frame: its softmax weight is exactly 0 in float32 (and fits float16)."""


class AttentionPooling(nn.Module):
    """``(B, T, features)`` frame features -> clip logit, frame logits, attention weights.

    Parameters
    ----------
    in_features
        Width of a frame's features.
    clamp
        The attention scores are clamped to ``[-clamp, clamp]`` before the
        softmax (as PANNs), so one frame cannot take all the weight early in
        training.
    """

    def __init__(self, in_features: int, clamp: float = 10.0) -> None:
        super().__init__()
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features <= 0:
            raise ValueError(f"in_features must be a positive integer, got {in_features!r}")
        if not clamp > 0:
            raise ValueError(f"clamp must be > 0, got {clamp!r}")
        self.clamp = float(clamp)
        self.attention = nn.Linear(in_features, 1)
        self.classifier = nn.Linear(in_features, 1)
        init_conv_or_linear(self.attention)
        init_conv_or_linear(self.classifier)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pool ``features (B, T, F)`` over the frames where ``mask (B, T)`` is 1 (None: all).

        Returns
        -------
        clip_logits : ``(B,)``
        frame_logits : ``(B, T)``
        weights : ``(B, T)``, summing to 1 per row, 0 on masked frames.
        """
        scores = self.attention(features).squeeze(-1).clamp(-self.clamp, self.clamp)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, MASKED_SCORE)
        weights = torch.softmax(scores.float(), dim=1)
        frame_logits = self.classifier(features).squeeze(-1)
        clip_logits = (weights * frame_logits.float()).sum(dim=1)
        return clip_logits, frame_logits, weights

"""Transformer encoder over the time axis of a frame-feature sequence."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(n_frames: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """``(n_frames, width)`` sine / cosine position codes (Vaswani et al.), sines in the first half.

    Computed per call from the length, so any window length works and the
    exported graph holds no table.
    """
    positions = torch.arange(n_frames, device=device, dtype=torch.float32).unsqueeze(1)
    rates = torch.exp(torch.arange(0, width // 2, device=device, dtype=torch.float32)
                      * (-math.log(10000.0) / (width // 2)))
    angles = positions * rates
    return torch.cat((torch.sin(angles), torch.cos(angles)), dim=1)


class TimeTransformer(nn.Module):
    """``(B, T, in_features)`` -> ``(B, T, d_model)``: projection, positions, encoder layers.

    Pre-norm ``nn.TransformerEncoder`` layers (GELU) with the padding frames
    excluded as keys, so real frames never attend to a short window's padding.

    Parameters
    ----------
    in_features
        Width of the input frames; projected to ``d_model`` when different.
    d_model, layers, heads, feedforward
        Encoder width, depth, attention heads (``d_model % heads == 0``) and
        feed-forward width.
    dropout
        Dropout inside the encoder layers, in [0, 1).
    """

    def __init__(self, in_features: int, d_model: int = 96, layers: int = 3, heads: int = 4,
                 feedforward: int = 192, dropout: float = 0.1) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("d_model", d_model), ("layers", layers),
                            ("heads", heads), ("feedforward", feedforward)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if d_model % heads or d_model % 2:
            raise ValueError(f"d_model ({d_model}) must be even and a multiple of heads ({heads})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.projection = nn.Identity() if in_features == d_model else nn.Linear(in_features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # no nested tensors: the same dense arithmetic in eager mode, training and ONNX
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``frames (B, T, in_features)``, ``mask (B, T)`` (1 real, 0 padding; None: all real)."""
        x = self.projection(frames)
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        padding = None if mask is None else mask == 0
        return self.norm(self.encoder(x, src_key_padding_mask=padding))

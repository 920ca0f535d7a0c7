"""``spectrogram_transformer``: transformer layers over embedded log-mel patches."""

from __future__ import annotations

from audio_artifacts.models.attention.base import FrameAttentionModel
from audio_artifacts.models.attention.transformer import TimeTransformer
from audio_artifacts.models.attention.trunks import SpectrogramEmbedding


class SpectrogramTransformer(FrameAttentionModel):
    """Log-mel -> patch embedding -> transformer encoder -> attention pooling -> logits ``(B,)``.

    The defaults (d_model 96, 3 layers, 4 heads, 40 ms patches: 125 tokens
    per 5 s window) train on a 2-core CPU; every size is an argument, so a
    GPU configuration scales it up. No PANNs checkpoint fits it.

    Parameters
    ----------
    sample_rate, window_size, hop_size, mel_bins, fmin, fmax
        The log-mel front end (PANNs').
    patch_frames
        Log-mel frames per token (a token every ``patch_frames * hop_size`` samples).
    d_model, layers, heads, feedforward, dropout
        The encoder (`TimeTransformer`).
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        patch_frames: int = 4,
        d_model: int = 96,
        layers: int = 3,
        heads: int = 4,
        feedforward: int = 192,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        backbone = SpectrogramEmbedding(sample_rate, window_size, hop_size, mel_bins, fmin, fmax,
                                        patch_frames, d_model)
        encoder = TimeTransformer(d_model, d_model, layers, heads, feedforward, dropout)
        arguments = dict(backbone.arguments(), patch_frames=patch_frames, d_model=d_model,
                         layers=layers, heads=heads, feedforward=feedforward, dropout=float(dropout))
        self._assemble(arguments, backbone, encoder, d_model)

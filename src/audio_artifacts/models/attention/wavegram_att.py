"""``wavegram_att``: Wavegram-Logmel-CNN14's two branches feeding transformer layers over time."""

from __future__ import annotations

from collections.abc import Sequence

from audio_artifacts.models.attention.base import FrameAttentionModel
from audio_artifacts.models.attention.transformer import TimeTransformer
from audio_artifacts.models.attention.trunks import WavegramTrunk


class WavegramAttention(FrameAttentionModel):
    """Wavegram + log-mel conv blocks -> transformer over time -> attention pooling -> logits ``(B,)``.

    Wavegram-Logmel-CNN14 with its last conv blocks (5 and 6) replaced by
    transformer encoder layers: `WavegramTrunk` (``pre_*``, ``conv_block1``
    ... ``conv_block4``; one frame per 16 hops, 0.16 s), `TimeTransformer`,
    `AttentionPooling`.

    Parameters
    ----------
    sample_rate, window_size, hop_size, mel_bins, fmin, fmax
        The log-mel front end; the wavegram fixes ``hop_size`` 320 and ``mel_bins`` 64.
    channels
        Output channels of ``conv_block1`` ... (2 to 6 blocks); the official
        first four by default, which a checkpoint fills.
    d_model, layers, heads, feedforward, dropout
        The encoder (`TimeTransformer`).
    pretrained
        An official ``Wavegram_Logmel_Cnn14_mAP=0.439.pth``: fills the
        wavegram branch, ``bn0`` and the kept conv blocks; the replaced
        blocks, ``fc1`` and ``fc_audioset`` are left (``pretrained_load``).
    freeze_backbone, unfreeze_last
        Freeze the trunk except its last ``unfreeze_last`` conv blocks.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        channels: Sequence[int] = (64, 128, 256, 512),
        d_model: int = 256,
        layers: int = 2,
        heads: int = 4,
        feedforward: int = 512,
        dropout: float = 0.1,
        pretrained: str | None = None,
        freeze_backbone: bool = False,
        unfreeze_last: int = 0,
    ) -> None:
        super().__init__()
        backbone = WavegramTrunk(sample_rate, window_size, hop_size, mel_bins, fmin, fmax, channels)
        encoder = TimeTransformer(backbone.width, d_model, layers, heads, feedforward, dropout)
        unfreezable = tuple(f"conv_block{i}" for i in range(backbone.n_blocks, 0, -1))
        arguments = dict(backbone.arguments(), channels=list(channels), d_model=d_model,
                         layers=layers, heads=heads, feedforward=feedforward, dropout=float(dropout),
                         pretrained=None if pretrained is None else str(pretrained),
                         freeze_backbone=bool(freeze_backbone), unfreeze_last=unfreeze_last)
        self._assemble(arguments, backbone, encoder, d_model, unfreezable)

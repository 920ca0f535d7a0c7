"""``cnn14_att``: CNN14 with decision-level attention over time (PANNs' SED variant)."""

from __future__ import annotations

from collections.abc import Sequence

from audio_artifacts.models.attention.base import FrameAttentionModel, NoEncoder
from audio_artifacts.models.attention.trunks import Cnn14Trunk
from audio_artifacts.models.panns.cnn14 import CNN14_CHANNELS


class Cnn14Attention(FrameAttentionModel):
    """CNN14 trunk + per-frame decisions + attention pooling -> artifact logits ``(B,)``.

    ``conv_block1`` ... ``conv_block6`` and ``fc1`` per frame (`Cnn14Trunk`),
    then `AttentionPooling`: one frame per ``32 * hop_size`` samples (0.32 s).

    Parameters
    ----------
    sample_rate, window_size, hop_size, mel_bins, fmin, fmax
        The log-mel front end (PANNs': 32 kHz, 1024, 320, 64, 50-14000 Hz).
    channels
        Output channels of the conv blocks, 1 to 6 of them (CNN14's by
        default; a checkpoint only fits those). The first five pool 2x2.
    pretrained
        An official ``Cnn14_mAP=0.431.pth`` (or any checkpoint with these
        keys): fills ``bn0``, the conv blocks and ``fc1``; ``fc_audioset``
        and, with fewer blocks, the rest are left (``pretrained_load``).
    freeze_backbone, unfreeze_last
        Freeze the trunk except ``fc1`` and its last blocks: ``unfreeze_last``
        counts ``fc1``, the last conv block, the one before ... (0 to
        ``len(channels) + 1``).
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        channels: Sequence[int] = CNN14_CHANNELS,
        pretrained: str | None = None,
        freeze_backbone: bool = False,
        unfreeze_last: int = 0,
    ) -> None:
        super().__init__()
        backbone = Cnn14Trunk(sample_rate, window_size, hop_size, mel_bins, fmin, fmax, channels)
        unfreezable = ("fc1", *(f"conv_block{i}" for i in range(backbone.n_blocks, 0, -1)))
        arguments = dict(backbone.arguments(), channels=list(channels),
                         pretrained=None if pretrained is None else str(pretrained),
                         freeze_backbone=bool(freeze_backbone), unfreeze_last=unfreeze_last)
        self._assemble(arguments, backbone, NoEncoder(), backbone.width, unfreezable)

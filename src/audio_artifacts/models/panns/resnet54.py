"""ResNet54: PANNs' log-mel ResNet (bottleneck stages 3-4-6-3, 104.3 M parameters)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from audio_artifacts.models.panns.base import EMBEDDING_SIZE, PannsBackbone
from audio_artifacts.models.panns.blocks import BottleneckResNet, ConvBlock


class ResNet54(PannsBackbone):
    """PANNs ResNet54, state-dict compatible with the official checkpoint.

    A conv block (64 channels, 2x2 average pooling), the bottleneck ResNet
    body (``resnet.layer1`` ... ``layer4``), another 2x2 average pooling and
    ``conv_block_after1`` (2048 channels), then the shared clip head.
    Parameters as `Cnn14`; ``forward`` returns the same dict. Needs at least
    ``32 * hop_size`` samples.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        classes_num: int = 527,
    ) -> None:
        super().__init__(sample_rate, window_size, hop_size, mel_bins, fmin, fmax, classes_num)
        self._build_front_end()
        self.conv_block1 = ConvBlock(1, 64, (2, 2))
        self.resnet = BottleneckResNet((3, 4, 6, 3))
        self.conv_block_after1 = ConvBlock(EMBEDDING_SIZE, EMBEDDING_SIZE, None)
        self._build_clip_head()

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        waveform = self._zero_padding(waveform, lengths)
        x = self._log_mel(waveform)
        x = F.dropout(self.conv_block1(x), p=0.2, training=self.training)
        x = F.avg_pool2d(self.resnet(x), 2)
        x = F.dropout(x, p=0.2, training=self.training)
        return self._clip_outputs(self.conv_block_after1(x), lengths, waveform.shape[-1])

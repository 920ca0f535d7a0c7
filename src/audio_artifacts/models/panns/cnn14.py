"""Cnn14: the PANNs log-mel CNN (six VGG-like conv blocks, 80.8 M parameters)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audio_artifacts.models.panns.base import PannsBackbone
from audio_artifacts.models.panns.blocks import ConvBlock

CNN14_CHANNELS = (64, 128, 256, 512, 1024, 2048)


class Cnn14(PannsBackbone):
    """PANNs Cnn14, state-dict compatible with the official checkpoint.

    Parameters
    ----------
    sample_rate, window_size, hop_size
        Input rate (Hz) and STFT window / hop (samples).
    mel_bins, fmin, fmax
        Mel bands and their range (Hz).
    classes_num
        Outputs of ``fc_audioset`` (527 AudioSet classes).

    ``forward(waveform (B, samples))`` returns ``{"clipwise_output": (B, classes_num)``
    sigmoid probabilities, ``"embedding": (B, 2048)}``. Needs at least
    ``32 * hop_size`` samples (five 2x2 poolings of the frame axis).
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
        in_channels = 1
        for index, out_channels in enumerate(CNN14_CHANNELS, start=1):
            pool = (2, 2) if index < len(CNN14_CHANNELS) else None
            setattr(self, f"conv_block{index}", ConvBlock(in_channels, out_channels, pool))
            in_channels = out_channels
        self._build_clip_head()

    def conv_blocks(self) -> list[nn.Module]:
        """``conv_block1`` ... ``conv_block6``, input to output."""
        return [getattr(self, f"conv_block{i}") for i in range(1, len(CNN14_CHANNELS) + 1)]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        waveform = self._zero_padding(waveform, lengths)
        x = self._log_mel(waveform)
        blocks = self.conv_blocks()
        for index, block in enumerate(blocks):
            x = block(x)
            if index < len(blocks) - 1:
                x = F.dropout(x, p=0.2, training=self.training)
        return self._clip_outputs(x, lengths, waveform.shape[-1])

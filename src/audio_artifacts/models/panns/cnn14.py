"""Cnn14: the PANNs log-mel CNN (six VGG-like conv blocks, 80.8 M parameters)."""

from __future__ import annotations

import torch
from torch import nn

from audio_artifacts.models.panns.base import PannsBackbone
from audio_artifacts.models.panns.blocks import add_conv_blocks, run_blocks

CNN14_CHANNELS = (64, 128, 256, 512, 1024, 2048)


def channel_pairs(channels: tuple[int, ...] | list[int], first: int = 1) -> list[tuple[int, int]]:
    """``(in, out)`` channels of a chain of blocks: ``(64, 128)`` -> ``[(1, 64), (64, 128)]``."""
    ins = [first, *channels[:-1]]
    return list(zip(ins, channels))


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
        add_conv_blocks(self, channel_pairs(CNN14_CHANNELS))
        self._build_clip_head()

    def conv_blocks(self) -> list[nn.Module]:
        """``conv_block1`` ... ``conv_block6``, input to output."""
        return [getattr(self, f"conv_block{i}") for i in range(1, len(CNN14_CHANNELS) + 1)]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        waveform = self._zero_padding(waveform, lengths)
        x = run_blocks(self.conv_blocks(), self._log_mel(waveform), self.training)
        return self._clip_outputs(x, lengths, waveform.shape[-1])

"""Wavegram-Logmel-CNN14: Cnn14 fed by log-mel *and* a learned waveform front end."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audio_artifacts.models.panns.base import PannsBackbone
from audio_artifacts.models.panns.blocks import (
    ConvBlock,
    WaveConvBlock,
    add_conv_blocks,
    init_batchnorm,
    init_conv_or_linear,
    run_blocks,
)

WAVEGRAM_STRIDE = 5 * 4 * 4 * 4
"""Samples per wavegram frame: the stride-5 first conv and three 4x poolings."""
WAVEGRAM_BINS = 32
"""The 128 wavegram channels are read as 4 groups of 32 "frequency" bins."""
WAVEGRAM_LOGMEL_CHANNELS = [(1, 64), (128, 128), (128, 256), (256, 512), (512, 1024), (1024, 2048)]
"""``(in, out)`` of ``conv_block1`` ... ``conv_block6``: block 2 takes both 64-channel maps."""


class WavegramBranch:
    """The waveform branch of Wavegram-Logmel-CNN14 and its fusion with the log-mel map.

    A mixin for `LogMelTrunk` subclasses: `_build_wavegram_branch` registers
    ``pre_conv0`` ... ``pre_block4`` (the official keys; call it first, so the
    key order is the checkpoint's), `fused_maps` returns the concatenated
    128-channel map after ``conv_block1``. Fixes ``hop_size`` to 320 and
    ``mel_bins`` to 64 (the branch yields 32 bins after pooling, like 64 mel bins).
    """

    def _build_wavegram_branch(self) -> None:
        hop_size, mel_bins = self._arguments["hop_size"], self._arguments["mel_bins"]
        name = type(self).__name__
        if hop_size != WAVEGRAM_STRIDE:
            raise ValueError(
                f"{name} needs hop_size={WAVEGRAM_STRIDE} (its waveform branch "
                f"makes one frame per {WAVEGRAM_STRIDE} samples), got {hop_size}"
            )
        if mel_bins != 2 * WAVEGRAM_BINS:
            raise ValueError(
                f"{name} needs mel_bins={2 * WAVEGRAM_BINS} to match its waveform branch, got {mel_bins}"
            )
        self.pre_conv0 = nn.Conv1d(1, 64, kernel_size=11, stride=5, padding=5, bias=False)
        self.pre_bn0 = nn.BatchNorm1d(64)
        self.pre_block1 = WaveConvBlock(64, 64, pool_size=4)
        self.pre_block2 = WaveConvBlock(64, 128, pool_size=4)
        self.pre_block3 = WaveConvBlock(128, 128, pool_size=4)
        self.pre_block4 = ConvBlock(4, 64, (2, 1))
        init_conv_or_linear(self.pre_conv0)
        init_batchnorm(self.pre_bn0)

    def wavegram(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> wavegram features ``(B, 64, frames // 2, 32)``."""
        a = F.relu(self.pre_bn0(self.pre_conv0(waveform.unsqueeze(1))))
        a = self.pre_block3(self.pre_block2(self.pre_block1(a)))
        batch, channels, frames = a.shape
        a = a.reshape(batch, channels // WAVEGRAM_BINS, WAVEGRAM_BINS, frames).transpose(2, 3)
        return self.pre_block4(a)

    def fused_maps(self, waveform: torch.Tensor) -> torch.Tensor:
        """Zero-padded ``(B, samples)`` -> ``conv_block1(log-mel)`` ⊕ wavegram ``(B, 128, frames // 2, 32)``.

        If an input length makes the two maps differ by a frame (PANNs would
        fail), the longer one is cropped to the shorter.
        """
        x = self.conv_block1(self._log_mel(waveform))  # validates the input first
        wave = self.wavegram(waveform)
        frames = min(x.shape[2], wave.shape[2])
        return torch.cat((x[:, :, :frames], wave[:, :, :frames]), dim=1)


class WavegramLogmelCnn14(WavegramBranch, PannsBackbone):
    """PANNs Wavegram-Logmel-CNN14, state-dict compatible with the official checkpoint.

    The wavegram branch (``pre_*``, `WavegramBranch`) learns a time-frequency
    map from the raw waveform, one frame per 320 samples; after
    ``conv_block1`` both maps have 64 channels at half the frame rate and are
    concatenated (128 channels) before ``conv_block2`` ... ``conv_block6`` and
    the clip head. Parameters as `Cnn14`, except that the branch fixes
    ``hop_size`` to 320 and ``mel_bins`` to 64.
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
        # Registration order = the official checkpoint's key order (pre_* first).
        self._build_wavegram_branch()
        self._build_front_end()
        add_conv_blocks(self, WAVEGRAM_LOGMEL_CHANNELS)
        self._build_clip_head()

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        waveform = self._zero_padding(waveform, lengths)
        x = F.dropout(self.fused_maps(waveform), p=0.2, training=self.training)
        blocks = [getattr(self, f"conv_block{index}") for index in range(2, 7)]
        x = run_blocks(blocks, x, self.training)
        return self._clip_outputs(x, lengths, waveform.shape[-1])

"""The feature trunks of the attention models: waveform -> frame features ``(B, T, C)``.

`Cnn14Trunk` and `WavegramTrunk` are PANNs' layers under PANNs' names
(``bn0``, ``conv_block1`` ..., ``pre_*``, ``fc1``), so an official
checkpoint fills them (`panns.partial.load_matching_keys`);
`SpectrogramEmbedding` embeds groups of log-mel frames for a transformer.
Each zeroes a short window's padding first and says its frame hop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from audio_artifacts.models.panns.base import LogMelTrunk
from audio_artifacts.models.panns.blocks import add_conv_blocks, init_conv_or_linear, run_blocks
from audio_artifacts.models.panns.cnn14 import channel_pairs
from audio_artifacts.models.panns.wavegram import WavegramBranch

MAX_POOLED = 5
"""Conv blocks that halve time and frequency (CNN14 pools after five of its six)."""
WAVEGRAM_CHANNELS = 64
"""Channels of the wavegram map joined to ``conv_block1``'s log-mel map."""


def check_channels(channels: Sequence[int], most: int, least: int = 1) -> tuple[int, ...]:
    """``channels`` as a tuple of ``least`` .. ``most`` positive ints, else ValueError."""
    values = tuple(channels) if isinstance(channels, (list, tuple)) else ()
    if not least <= len(values) <= most or any(
        isinstance(c, bool) or not isinstance(c, int) or c <= 0 for c in values
    ):
        raise ValueError(f"channels must be {least} to {most} positive integers, got {channels!r}")
    return values


class Cnn14Trunk(LogMelTrunk):
    """CNN14's conv blocks and ``fc1`` as a frame-feature extractor (PANNs' SED layout).

    ``(B, samples) -> (B, T, channels[-1])``: conv blocks (the first five pool
    2x2), mean over frequency, PANNs' 3-frame max + mean smoothing over time,
    ``fc1`` + ReLU per frame. Default channels are CNN14's.
    """

    def __init__(self, sample_rate: int = 32000, window_size: int = 1024, hop_size: int = 320,
                 mel_bins: int = 64, fmin: float = 50.0, fmax: float = 14000.0,
                 channels: Sequence[int] = (64, 128, 256, 512, 1024, 2048)) -> None:
        super().__init__(sample_rate, window_size, hop_size, mel_bins, fmin, fmax)
        channels = check_channels(channels, most=6)
        self._build_front_end()
        pooled = min(len(channels), MAX_POOLED)
        add_conv_blocks(self, channel_pairs(channels), pooled)
        self.n_blocks = len(channels)
        self.fc1 = nn.Linear(channels[-1], channels[-1])
        init_conv_or_linear(self.fc1)
        self.min_frames = 2**pooled
        self.frame_hop_samples = hop_size * 2**pooled
        self.width = channels[-1]

    def conv_blocks(self) -> list[nn.Module]:
        """``conv_block1`` ... in order."""
        return [getattr(self, f"conv_block{i}") for i in range(1, self.n_blocks + 1)]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        waveform = self._zero_padding(waveform, lengths)
        x = run_blocks(self.conv_blocks(), self._log_mel(waveform), self.training)
        x = F.dropout(x, p=0.2, training=self.training).mean(dim=3)  # (B, C, T)
        x = F.max_pool1d(x, 3, 1, 1) + F.avg_pool1d(x, 3, 1, 1)
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu(self.fc1(x.transpose(1, 2)))


class WavegramTrunk(WavegramBranch, LogMelTrunk):
    """Wavegram-Logmel-CNN14's two branches and its first conv blocks: ``(B, samples) -> (B, T, C)``.

    The wavegram branch (``pre_*``) and ``conv_block1`` of the log-mel map,
    concatenated, then ``conv_block2`` ... ``conv_block{len(channels)}`` (each
    pooling 2x2), mean over frequency. Default channels: the official first
    four blocks (64, 128, 256, 512); the wavegram adds 64 channels to
    ``conv_block1``'s output.
    """

    def __init__(self, sample_rate: int = 32000, window_size: int = 1024, hop_size: int = 320,
                 mel_bins: int = 64, fmin: float = 50.0, fmax: float = 14000.0,
                 channels: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__(sample_rate, window_size, hop_size, mel_bins, fmin, fmax)
        channels = check_channels(channels, most=6, least=2)
        # Registration order = the official checkpoint's key order (pre_* first).
        self._build_wavegram_branch()
        self._build_front_end()
        pairs = [(1, channels[0]), *channel_pairs(channels[1:], first=channels[0] + WAVEGRAM_CHANNELS)]
        pooled = min(len(channels), MAX_POOLED)
        add_conv_blocks(self, pairs, pooled)
        self.n_blocks = len(channels)
        self.min_frames = 2**pooled
        self.frame_hop_samples = hop_size * 2**pooled
        self.width = channels[-1]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        waveform = self._zero_padding(waveform, lengths)
        x = F.dropout(self.fused_maps(waveform), p=0.2, training=self.training)
        blocks = [getattr(self, f"conv_block{i}") for i in range(2, self.n_blocks + 1)]
        x = F.dropout(run_blocks(blocks, x, self.training), p=0.2, training=self.training)
        return x.mean(dim=3).transpose(1, 2)


class SpectrogramEmbedding(LogMelTrunk):
    """Log-mel frames grouped ``patch_frames`` at a time, embedded: ``(B, samples) -> (B, T, d_model)``.

    A patch is ``patch_frames`` consecutive frames by every mel band (a
    strided ``Conv1d`` over time with the bands as channels), one token per
    ``patch_frames * hop_size`` samples.
    """

    def __init__(self, sample_rate: int = 32000, window_size: int = 1024, hop_size: int = 320,
                 mel_bins: int = 64, fmin: float = 50.0, fmax: float = 14000.0,
                 patch_frames: int = 4, d_model: int = 96) -> None:
        super().__init__(sample_rate, window_size, hop_size, mel_bins, fmin, fmax)
        for name, value in (("patch_frames", patch_frames), ("d_model", d_model)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self._build_front_end()
        self.embedding = nn.Conv1d(mel_bins, d_model, patch_frames, stride=patch_frames)
        init_conv_or_linear(self.embedding)
        self.min_frames = patch_frames
        self.frame_hop_samples = hop_size * patch_frames
        self.width = d_model

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        waveform = self._zero_padding(waveform, lengths)
        x = self._log_mel(waveform).squeeze(1).transpose(1, 2)  # (B, mel_bins, frames)
        return self.embedding(x).transpose(1, 2)

"""Building blocks of the PANNs backbones (Kong et al. 2020).

Attribute names (``conv1``, ``bn1``, ``downsample`` ...) are the ones the
official checkpoints use, so state-dict keys line up one to one. Pooling is
fixed when a block is built rather than passed to every call, which keeps
each backbone's ``forward`` short.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

PoolType = Literal["avg", "max", "avg+max"]


def init_conv_or_linear(layer: nn.Conv1d | nn.Conv2d | nn.Linear) -> None:
    """Xavier-uniform weights and zero bias, the initialisation PANNs trains from."""
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_batchnorm(bn: nn.modules.batchnorm._BatchNorm, weight: float = 1.0) -> None:
    """Unit (or ``weight``) scale and zero shift."""
    nn.init.constant_(bn.weight, weight)
    nn.init.zeros_(bn.bias)


def run_blocks(blocks: list[nn.Module], x: torch.Tensor, training: bool, dropout: float = 0.2) -> torch.Tensor:
    """``x`` through ``blocks`` in order, with PANNs' dropout between blocks (not after the last)."""
    for index, block in enumerate(blocks):
        x = block(x)
        if index < len(blocks) - 1:
            x = F.dropout(x, p=dropout, training=training)
    return x


class ConvBlock(nn.Module):
    """Two 3x3 conv -> BatchNorm -> ReLU layers, then optional pooling.

    ``(B, in_channels, T, F) -> (B, out_channels, T // pt, F // pf)`` where
    ``(pt, pf) = pool_size`` (no pooling when ``pool_size`` is ``None`` or
    ``(1, 1)``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        pool_size: tuple[int, int] | None = (2, 2),
        pool_type: PoolType = "avg",
    ) -> None:
        super().__init__()
        if pool_type not in ("avg", "max", "avg+max"):
            raise ValueError(f"pool_type must be 'avg', 'max' or 'avg+max', got {pool_type!r}")
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool_size = None if pool_size in (None, (1, 1)) else tuple(pool_size)
        self.pool_type = pool_type
        for conv in (self.conv1, self.conv2):
            init_conv_or_linear(conv)
        for bn in (self.bn1, self.bn2):
            init_batchnorm(bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if self.pool_size is None:
            return x
        if self.pool_type == "avg":
            return F.avg_pool2d(x, self.pool_size)
        if self.pool_type == "max":
            return F.max_pool2d(x, self.pool_size)
        return F.avg_pool2d(x, self.pool_size) + F.max_pool2d(x, self.pool_size)


def add_conv_blocks(module: nn.Module, channels: list[tuple[int, int]], pooled: int = 5) -> None:
    """Register ``conv_block1``, ``conv_block2`` ... on ``module`` (the checkpoints' names).

    ``channels`` holds ``(in, out)`` per block; the first ``pooled`` blocks end
    with 2x2 average pooling, the rest with none (CNN14: five of six).
    """
    for index, (c_in, c_out) in enumerate(channels, start=1):
        pool = (2, 2) if index <= pooled else None
        setattr(module, f"conv_block{index}", ConvBlock(c_in, c_out, pool))


class WaveConvBlock(nn.Module):
    """Wavegram block on raw-waveform features: two 1-D convs, then max pooling.

    The second conv is dilated by 2 to widen the receptive field at no cost.
    ``(B, in_channels, L) -> (B, out_channels, L // pool_size)``.
    """

    def __init__(self, in_channels: int, out_channels: int, pool_size: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=2, dilation=2, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.pool_size = pool_size
        for conv in (self.conv1, self.conv2):
            init_conv_or_linear(conv)
        for bn in (self.bn1, self.bn2):
            init_batchnorm(bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool1d(x, self.pool_size)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1 reduce, 3x3, 1x1 expand x4) with a residual path.

    PANNs' variant downsamples by 2x2 average pooling *before* the block
    (stride 2) instead of a strided conv, and drops out 10 % after the 3x3
    conv while training. ``(B, in_channels, T, F) -> (B, 4 * width, T / s, F / s)``.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        out_channels = width * self.expansion
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Sequential | None = None
        if stride == 2:
            # Checkpoint keys: downsample.1 (conv), downsample.2 (bn).
            self.downsample = nn.Sequential(
                nn.AvgPool2d(2), nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        elif in_channels != out_channels:
            # Checkpoint keys: downsample.0 (conv), downsample.1 (bn).
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )
        for conv in (self.conv1, self.conv2, self.conv3):
            init_conv_or_linear(conv)
        init_batchnorm(self.bn1)
        init_batchnorm(self.bn2)
        # Zero-initialised last BN: each residual block starts as the identity.
        init_batchnorm(self.bn3, weight=0.0)
        if self.downsample is not None:
            init_conv_or_linear(self.downsample[-2])
            init_batchnorm(self.downsample[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.stride == 2:
            x = F.avg_pool2d(x, 2)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.dropout(out, p=0.1, training=self.training)
        out = self.bn3(self.conv3(out))
        return F.relu(out + shortcut)


class BottleneckResNet(nn.Module):
    """Four stages of bottleneck blocks (``layer1`` ... ``layer4``).

    Stage widths 64, 128, 256, 512 (outputs x4); stages 2-4 halve time and
    frequency. ``(B, 64, T, F) -> (B, 2048, T / 8, F / 8)``.
    """

    def __init__(self, blocks_per_stage: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        in_channels = 64
        stages = []
        for index, (width, n_blocks) in enumerate(zip((64, 128, 256, 512), blocks_per_stage)):
            stride = 1 if index == 0 else 2
            blocks = [Bottleneck(in_channels, width, stride)]
            in_channels = width * Bottleneck.expansion
            blocks += [Bottleneck(in_channels, width) for _ in range(1, n_blocks)]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

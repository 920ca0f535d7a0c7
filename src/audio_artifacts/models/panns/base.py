"""What the PANNs backbones share: front end, ``bn0``, padding, clip-level head.

Each backbone registers its modules in the order of the official
checkpoints (so ``state_dict()`` lists keys in the same order) by calling
`_build_front_end` and `_build_clip_head` at the right point of its own
``__init__``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from audio_artifacts.features import LogMel
from audio_artifacts.models.masking import (
    check_lengths,
    masked_max,
    masked_mean,
    pooled_frame_mask,
    sample_mask,
)
from audio_artifacts.models.panns.blocks import init_batchnorm, init_conv_or_linear

EMBEDDING_SIZE = 2048
MIN_FRAMES = 32
"""Shortest input in frames (hops): the backbones pool the frame axis by 2 five times."""


class LogMelTrunk(nn.Module):
    """Base class of every PANNs-style network: log-mel front end, ``bn0``, padding.

    Holds the front-end arguments, builds `LogMel` + ``bn0`` (`_build_front_end`,
    called where the official key order wants ``bn0``), zeroes a short
    window's padding and applies the SpecAugment slot. Subclasses add their
    conv / attention layers.

    Attributes
    ----------
    spec_augment
        ``None``, or a module that training sets; applied while
        ``self.training`` to the normalised log-mel map ``(B, 1, frames, mel_bins)``
        right after the front end and ``bn0`` (where PANNs applies its own).
    min_frames
        Shortest input in frames (hops) the subclass's poolings allow.
    """

    spec_augment: nn.Module | None
    min_frames: int = MIN_FRAMES

    def __init__(
        self,
        sample_rate: int,
        window_size: int,
        hop_size: int,
        mel_bins: int,
        fmin: float,
        fmax: float,
    ) -> None:
        super().__init__()
        for name, value in (
            ("sample_rate", sample_rate), ("window_size", window_size),
            ("hop_size", hop_size), ("mel_bins", mel_bins),
        ):
            if int(value) != value or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if hop_size > window_size:
            raise ValueError(f"hop_size ({hop_size}) must not exceed window_size ({window_size})")
        self._arguments: dict[str, Any] = {
            "sample_rate": int(sample_rate), "window_size": int(window_size),
            "hop_size": int(hop_size), "mel_bins": int(mel_bins), "fmin": float(fmin),
            "fmax": float(fmax),
        }
        self.sample_rate = int(sample_rate)
        self.spec_augment = None

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), enough to rebuild the model."""
        return dict(self._arguments)

    def _build_front_end(self) -> None:
        a = self._arguments
        # LogMel keeps its DFT window and mel matrix as non-persistent buffers:
        # they are recomputed, never loaded, so they add no state-dict keys.
        self.logmel = LogMel(
            a["sample_rate"], a["window_size"], a["hop_size"], a["mel_bins"], a["fmin"], a["fmax"]
        )
        self.bn0 = nn.BatchNorm2d(a["mel_bins"])
        init_batchnorm(self.bn0)

    def _log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> normalised log-mel ``(B, 1, frames, mel_bins)``."""
        if waveform.ndim != 2:
            raise ValueError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
        # The poolings of the frame axis need >= min_frames frames. Checked in
        # eager mode only, so that export with a dynamic length adds no shape guard.
        shortest = self.min_frames * self._arguments["hop_size"]
        if not torch.compiler.is_compiling() and waveform.shape[-1] < shortest:
            raise ValueError(
                f"waveform has {waveform.shape[-1]} samples; {type(self).__name__} needs at least "
                f"{shortest} ({shortest / self.sample_rate:.2f} s at {self.sample_rate} Hz)"
            )
        x = self.logmel(waveform)
        # bn0 normalises each mel band: put mel bins on the channel axis and back.
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        if self.training and self.spec_augment is not None:
            x = self.spec_augment(x)
        return x

    @staticmethod
    def _zero_padding(waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """The waveform with its padding (samples past ``lengths``) set to exact zeros."""
        if lengths is None:
            return waveform
        lengths = check_lengths(waveform, lengths)
        return waveform * sample_mask(lengths, waveform.shape[-1], waveform.dtype)


class PannsBackbone(LogMelTrunk):
    """Base class: waveform ``(B, samples)`` -> ``{"clipwise_output", "embedding"}``.

    `LogMelTrunk` plus ``classes_num`` and the clip-level head (``fc1``,
    ``fc_audioset``) of the official checkpoints.
    """

    def __init__(
        self,
        sample_rate: int,
        window_size: int,
        hop_size: int,
        mel_bins: int,
        fmin: float,
        fmax: float,
        classes_num: int,
    ) -> None:
        if int(classes_num) != classes_num or classes_num <= 0:
            raise ValueError(f"classes_num must be a positive integer, got {classes_num!r}")
        super().__init__(sample_rate, window_size, hop_size, mel_bins, fmin, fmax)
        self._arguments["classes_num"] = int(classes_num)

    def _build_clip_head(self) -> None:
        self.fc1 = nn.Linear(EMBEDDING_SIZE, EMBEDDING_SIZE)
        self.fc_audioset = nn.Linear(EMBEDDING_SIZE, self._arguments["classes_num"])
        init_conv_or_linear(self.fc1)
        init_conv_or_linear(self.fc_audioset)

    def _clip_outputs(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                      n_samples: int | None = None) -> dict[str, torch.Tensor]:
        """Feature map ``(B, 2048, T, F)`` -> clip-level outputs.

        Frequency is averaged; time is summarised by max + mean (max finds a
        short event, mean a lasting one), over the frames that hold real
        samples when ``lengths`` (of inputs ``n_samples`` long) is given.
        """
        x = F.dropout(x, p=0.2, training=self.training)
        x = x.mean(dim=3)
        if lengths is None or n_samples is None:
            x = x.amax(dim=2) + x.mean(dim=2)
        else:
            mask = pooled_frame_mask(lengths, x.shape[2], n_samples, x.dtype).unsqueeze(1)  # (B, 1, T)
            x = masked_max(x, mask, 2) + masked_mean(x, mask, 2)
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu(self.fc1(x))
        embedding = F.dropout(x, p=0.5, training=self.training)
        clipwise = torch.sigmoid(self.fc_audioset(x))
        return {"clipwise_output": clipwise, "embedding": embedding}

"""Training-time augmentation of 5 s windows, each part switchable with its own
probability and parameter ranges.

Waveform transforms act on one window (numpy, in the dataset) and may change
its label (:class:`ArtifactInjection` turns a clean window into an artifact
window). :class:`SpecAugment` is an ``nn.Module`` set into a model's
``spec_augment`` slot, :func:`mixup` acts on a batch in the training step.

Randomness is always explicit: a ``numpy.random.Generator`` per call for the
waveform transforms, a ``torch.Generator`` owned by :class:`SpecAugment`, a
``numpy.random.Generator`` passed to :func:`mixup`. Nothing touches global
random state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
import torch
from torch import nn

__all__ = [
    "ArtifactInjection",
    "Compose",
    "Gain",
    "NoiseFloor",
    "SpecAugment",
    "TimeShift",
    "WaveformTransform",
    "mixup",
    "simulated_artifacts",
]


def _check_p(p: float, name: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p}")


def _check_range(low: float, high: float, name: str, what: str) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{name}: need finite min <= max for {what}, got [{low}, {high}]")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


class WaveformTransform:
    """Base class: applied with probability ``p``; ``last_params`` holds what was drawn.

    Subclasses implement :meth:`apply` ``(samples (n,), label, rng) -> (samples, label)``.
    """

    name = "transform"

    def __init__(self, p: float) -> None:
        _check_p(p, type(self).__name__)
        self.p = float(p)
        self.last_params: dict[str, Any] | None = None

    def __call__(
        self, samples: np.ndarray, label: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        self.last_params = None
        if self.p == 0.0 or rng.random() >= self.p:
            return samples, label
        return self.apply(samples, label, rng)

    def apply(
        self, samples: np.ndarray, label: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        raise NotImplementedError


class Gain(WaveformTransform):
    """Multiply by a gain drawn uniformly in ``[min_db, max_db]`` dB."""

    name = "gain"

    def __init__(self, p: float = 0.5, min_db: float = -12.0, max_db: float = 6.0) -> None:
        super().__init__(p)
        _check_range(min_db, max_db, "Gain", "gain in dB")
        self.min_db, self.max_db = float(min_db), float(max_db)

    def apply(self, samples, label, rng):
        gain_db = float(rng.uniform(self.min_db, self.max_db))
        self.last_params = {"gain_db": gain_db}
        return (samples * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32), label


def coloured_noise(
    n: int, tilt_db_per_octave: float, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise with a spectral slope of ``tilt_db_per_octave`` (0 = white).

    Returns ``(n,)`` float32 with unit RMS (no DC). Drawn in the frequency
    domain in single precision (half the cost of float64; plenty for noise).
    """
    m = n // 2 + 1
    spectrum = np.empty(m, dtype=np.complex64)
    spectrum.real = rng.standard_normal(m, dtype=np.float32)
    spectrum.imag = rng.standard_normal(m, dtype=np.float32)
    bins = np.arange(m, dtype=np.float32)
    bins[0] = 1.0
    # amplitude falls/rises by tilt dB per doubling of frequency
    spectrum *= bins ** np.float32(tilt_db_per_octave / (20.0 * np.log10(2.0)))
    spectrum[0] = 0.0
    noise = scipy.fft.irfft(spectrum, n)
    rms = _rms(noise)
    return (noise / rms if rms > 0 else noise).astype(np.float32, copy=False)


class NoiseFloor(WaveformTransform):
    """Raise the noise floor: add coloured noise ``level_db`` relative to the window RMS.

    ``level_db`` in ``[min_db, max_db]`` (e.g. -35..-15 dB: the added noise stays
    well below the existing signal, so faint artifacts are not buried), slope in
    ``[min_tilt, max_tilt]`` dB per octave. Digital silence is left unchanged.
    """

    name = "noise_floor"

    def __init__(
        self,
        p: float = 0.3,
        min_db: float = -35.0,
        max_db: float = -15.0,
        min_tilt_db_per_octave: float = -6.0,
        max_tilt_db_per_octave: float = 0.0,
    ) -> None:
        super().__init__(p)
        _check_range(min_db, max_db, "NoiseFloor", "level in dB")
        _check_range(min_tilt_db_per_octave, max_tilt_db_per_octave, "NoiseFloor", "tilt")
        self.min_db, self.max_db = float(min_db), float(max_db)
        self.min_tilt, self.max_tilt = float(min_tilt_db_per_octave), float(max_tilt_db_per_octave)

    def apply(self, samples, label, rng):
        level_db = float(rng.uniform(self.min_db, self.max_db))
        tilt = float(rng.uniform(self.min_tilt, self.max_tilt))
        self.last_params = {"level_db": level_db, "tilt_db_per_octave": tilt}
        rms = _rms(samples)
        if rms == 0.0 or samples.size < 2:
            return samples, label
        noise = coloured_noise(samples.size, tilt, rng) * (rms * 10.0 ** (level_db / 20.0))
        return (samples + noise).astype(np.float32, copy=False), label


class TimeShift:
    """Random start of a training window instead of the fixed window grid.

    For a recording longer than a window, the start moves by up to
    ``max_shift_s`` either way and stays inside the recording. A recording
    shorter than a window stays at the start of its (length-masked) window.
    The dataset cuts and labels the window at the shifted time, so labels
    stay exact.
    """

    name = "time_shift"

    def __init__(self, p: float = 0.5, max_shift_s: float = 1.875) -> None:
        _check_p(p, "TimeShift")
        if not (math.isfinite(max_shift_s) and max_shift_s >= 0):
            raise ValueError(f"TimeShift: max_shift_s must be >= 0 seconds, got {max_shift_s}")
        self.p, self.max_shift_s = float(p), float(max_shift_s)

    def start(
        self, start: int, n_samples: int, window_samples: int, sample_rate: int,
        rng: np.random.Generator,
    ) -> int:
        """Shifted start sample in ``[0, n - W]``; a recording shorter than ``W`` keeps start 0.

        (Its padding is masked by the models, so where it would sit in the
        window does not matter; see ``models.masking``.)
        """
        if self.p == 0.0 or rng.random() >= self.p:
            return start
        if n_samples <= window_samples:
            return start
        shift = int(round(self.max_shift_s * sample_rate))
        low = max(0, start - shift)
        high = min(n_samples - window_samples, start + shift)
        return int(rng.integers(low, high + 1))


class ShortCrop:
    """Train on short recordings too: cut a window down to 0.5-5 s of real audio.

    Test lines record short files (a 1 s beep test, a 2 s noise burst); the
    models mask a short window's padding (``models.masking``), and this teaches
    them to judge what is left. With probability ``p`` a window becomes a crop
    of ``min_s``..``max_s`` seconds at a random offset inside it; the dataset
    labels the crop from the events over its own span, and drops a crop whose
    label would be ambiguous (it touches an event without holding enough of it).
    """

    name = "short_crop"

    def __init__(self, p: float = 0.2, min_s: float = 0.5, max_s: float = 5.0) -> None:
        _check_p(p, "ShortCrop")
        _check_range(min_s, max_s, "ShortCrop", "length in seconds")
        if min_s <= 0:
            raise ValueError(f"ShortCrop: min_s must be > 0 seconds, got {min_s}")
        self.p, self.min_s, self.max_s = float(p), float(min_s), float(max_s)

    def crop(self, start: int, length: int, sample_rate: int, rng: np.random.Generator) -> tuple[int, int] | None:
        """``(start, length)`` of the crop inside ``[start, start + length)``, or None (no crop)."""
        if self.p == 0.0 or rng.random() >= self.p:
            return None
        low = int(round(self.min_s * sample_rate))
        high = min(int(round(self.max_s * sample_rate)), length - 1)
        if high < low:
            return None
        size = int(rng.integers(low, high + 1))
        return start + int(rng.integers(0, length - size + 1)), size


# (rng, host window (n,), sample_rate, level_db or None) -> (artifact to add (n,), its type)
ArtifactRenderer = Callable[
    [np.random.Generator, np.ndarray, int, "float | None"], tuple[np.ndarray, str]
]


NO_ARTIFACT = "none"
"""What a renderer returns as the type when nothing sounds in the window."""


class simulated_artifacts:  # noqa: N801 (used like a function; a class so it pickles)
    """A renderer drawing artifacts from the simulator (``simulate.artifacts.sample_artifact``).

    The type is drawn uniformly from ``types`` (all simulator types by default,
    then with the simulator's weights); the artifact sounds through the whole
    window (never intermittent), so the window surely holds it. ``level_db`` is
    the simulator's artifact-to-floor ratio in the artifact's band, measured
    against the host window's own floor; None draws the simulator's per-type
    range. Picklable, so loader workers started with ``spawn`` can use it.
    """

    def __init__(self, types: Sequence[str] | None = None) -> None:
        from audio_artifacts.simulate.artifacts import ARTIFACT_TYPES

        self.types = tuple(types) if types else None
        unknown = sorted(set(self.types or ()) - set(ARTIFACT_TYPES))
        if unknown:
            raise ValueError(f"unknown artifact types {unknown}; known: {', '.join(ARTIFACT_TYPES)}")

    def __call__(self, rng: np.random.Generator, host: np.ndarray, sample_rate: int,
                 level_db: float | None) -> tuple[np.ndarray, str]:
        from audio_artifacts.simulate.artifacts import sample_artifact

        kind = str(rng.choice(self.types)) if self.types else None
        signal, events = sample_artifact(
            rng, host.size, sample_rate, host.astype(np.float64), artifact_type=kind,
            level_db=level_db, intermittent=False,
        )
        if not events:  # e.g. ticks slower than a short window: nothing sounds in it
            return np.zeros_like(signal), NO_ARTIFACT
        return signal, events[0].type


class ArtifactInjection(WaveformTransform):
    """Add a simulated artifact to a clean window; its label becomes 1.

    Only windows labelled 0 are touched. ``render`` returns the artifact to add,
    already at its level (see :func:`simulated_artifacts`); ``level_db`` is drawn
    uniformly in ``[min_db, max_db]`` and passed on, or None (the renderer's
    own ranges) when both bounds are None.
    """

    name = "inject"

    def __init__(
        self, render: ArtifactRenderer, sample_rate: int, p: float = 0.3,
        min_db: float | None = None, max_db: float | None = None,
    ) -> None:
        super().__init__(p)
        if (min_db is None) != (max_db is None):
            raise ValueError("ArtifactInjection: give both min_db and max_db, or neither")
        if min_db is not None:
            _check_range(min_db, max_db, "ArtifactInjection", "level in dB")
        self.render, self.sample_rate = render, int(sample_rate)
        self.min_db, self.max_db = min_db, max_db

    def __call__(self, samples, label, rng):
        if label >= 0.5:
            self.last_params = None
            return samples, label
        return super().__call__(samples, label, rng)

    def apply(self, samples, label, rng):
        level_db = None if self.min_db is None else float(rng.uniform(self.min_db, self.max_db))
        artifact, kind = self.render(rng, samples, self.sample_rate, level_db)
        artifact = np.asarray(artifact, dtype=np.float32)
        if artifact.shape != samples.shape:
            raise ValueError(f"artifact renderer returned shape {artifact.shape}, expected {samples.shape}")
        self.last_params = {"type": kind, "level_db": level_db}
        if kind == NO_ARTIFACT:
            return samples, label
        return samples + artifact, 1.0


class Compose:
    """Apply waveform transforms in order; ``last_params`` lists what each drew."""

    def __init__(self, transforms: Sequence[WaveformTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(
        self, samples: np.ndarray, label: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        for transform in self.transforms:
            samples, label = transform(samples, label, rng)
        return samples, label

    @property
    def last_params(self) -> dict[str, dict[str, Any]]:
        return {t.name: t.last_params for t in self.transforms if t.last_params is not None}

    def __len__(self) -> int:
        return len(self.transforms)


class SpecAugment(nn.Module):
    """Time and frequency masking of a feature map ``(B, 1, frames, bins)``.

    Active only in training mode. Each example is masked with probability
    ``p``: ``time_masks`` spans of up to ``max_time_frames`` frames and
    ``freq_masks`` bands of up to ``max_freq_bins`` bins, filled with the
    example's mean (a neutral value for log-scaled features). Masks come from
    the module's own ``torch.Generator`` seeded with ``seed``.
    """

    def __init__(
        self, p: float = 1.0, time_masks: int = 2, max_time_frames: int = 40,
        freq_masks: int = 2, max_freq_bins: int = 8, seed: int = 0,
    ) -> None:
        super().__init__()
        _check_p(p, "SpecAugment")
        for name, value in (("time_masks", time_masks), ("max_time_frames", max_time_frames),
                            ("freq_masks", freq_masks), ("max_freq_bins", max_freq_bins)):
            if value < 0:
                raise ValueError(f"SpecAugment: {name} must be >= 0, got {value}")
        self.p = float(p)
        self.time_masks, self.max_time_frames = int(time_masks), int(max_time_frames)
        self.freq_masks, self.max_freq_bins = int(freq_masks), int(max_freq_bins)
        self.generator = torch.Generator().manual_seed(int(seed))

    def extra_repr(self) -> str:
        return (f"p={self.p}, time_masks={self.time_masks}x{self.max_time_frames}, "
                f"freq_masks={self.freq_masks}x{self.max_freq_bins}")

    def mask(self, batch: int, frames: int, bins: int) -> torch.Tensor:
        """Boolean mask ``(batch, 1, frames, bins)``, True where values are replaced."""
        g = self.generator
        mask = torch.zeros(batch, 1, frames, bins, dtype=torch.bool)
        chosen = torch.rand(batch, generator=g) < self.p
        for axis, count, widest, size in ((2, self.time_masks, self.max_time_frames, frames),
                                          (3, self.freq_masks, self.max_freq_bins, bins)):
            widest = min(widest, size)
            if count == 0 or widest == 0:
                continue
            widths = torch.randint(0, widest + 1, (batch, count), generator=g)
            starts = (torch.rand(batch, count, generator=g) * (size - widths + 1)).long()
            position = torch.arange(size)
            hit = ((position >= starts[..., None]) & (position < (starts + widths)[..., None])).any(1)
            hit = hit[:, None, :, None] if axis == 2 else hit[:, None, None, :]
            mask |= hit
        return mask & chosen[:, None, None, None]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return features
        if features.ndim != 4:
            raise ValueError(f"SpecAugment expects (B, 1, frames, bins), got {tuple(features.shape)}")
        b, _, frames, bins = features.shape
        mask = self.mask(b, frames, bins).to(features.device)
        fill = features.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(mask, fill.expand_as(features), features)


@dataclass(frozen=True)
class MixupResult:
    waveforms: torch.Tensor   # (B, samples)
    labels: torch.Tensor      # (B,) soft labels in [0, 1]
    weights: torch.Tensor     # (B,) weight of each example's own signal
    partner: torch.Tensor | None = None  # (B,) index of the example each one is mixed with


def mixup(
    waveforms: torch.Tensor, labels: torch.Tensor, alpha: float, rng: np.random.Generator
) -> MixupResult:
    """Mix each example with a random partner: ``x = w x_i + (1 - w) x_j`` and the
    same for the labels, ``w ~ Beta(alpha, alpha)`` per example.

    Parameters
    ----------
    waveforms : (B, samples) tensor
    labels : (B,) tensor of 0/1 or soft labels
    alpha : float > 0
    rng : numpy Generator (the weights and the pairing come from it)
    """
    if alpha <= 0:
        raise ValueError(f"mixup: alpha must be > 0, got {alpha}")
    b = waveforms.shape[0]
    weights = torch.as_tensor(rng.beta(alpha, alpha, size=b), dtype=waveforms.dtype,
                              device=waveforms.device)
    partner = torch.as_tensor(rng.permutation(b), device=waveforms.device)
    mixed = weights[:, None] * waveforms + (1 - weights[:, None]) * waveforms[partner]
    soft = weights * labels.to(waveforms.dtype) + (1 - weights) * labels.to(waveforms.dtype)[partner]
    return MixupResult(mixed, soft, weights, partner)

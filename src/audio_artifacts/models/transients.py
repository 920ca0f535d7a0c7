"""Band transients: isolated bursts of energy in third-octave bands (clicks, pops, zipper noise).

A click from a power-state change or a gain step lasts a few milliseconds and
sits in a few adjacent bins of a 64 ms STFT frame. Per bin, its peak hardly
stands out of the noise's own extremes (the peak over a second of a noise
bin's chi-square power reaches 10-13 dB over its mean, and a window holds
hundreds of bins). Summed over a third-octave band, the noise's spread shrinks
to about a decibel while the click keeps its energy, so it stands out by the
artifact-to-floor ratio itself. What tells a click from a syllable's or a
note's onset is that it *ends*: two frames (64 ms) later the band is back
where it was before, while an onset stays up.

:class:`BandTransients` takes the fast model's linear frame powers and gives,
per block of frames, a small learned summary of two measures per band:

* **peak**: the band level's maximum over the block, over its mean (dB);
* **spike**: the largest rise of a frame over *both* its neighbours two
  frames before and after (dB): high for an isolated burst, about 0 for an
  onset that lasts, negative for steady sound.

Only real frames count (padding is never read, also not as a neighbour).
"""

from __future__ import annotations

import torch
from torch import nn

from audio_artifacts.models.masking import masked_max, masked_mean

# third octaves (at least 100 Hz wide), as artifact levels are defined over bands (simulate.levels)
_LOW_EDGES = (50.0, 150.0, 250.0, 350.0, 450.0)
_GAP = 2  # frames on each side that an isolated burst must be gone by (2 x 32 ms)
_EMPTY = -1.0e4  # the level of a neighbour that does not exist (before the start, in the padding)


def third_octave_edges(fmax: float) -> list[float]:
    """Band edges from 50 Hz up to ``fmax``: 100 Hz wide to 450 Hz, third octaves above."""
    edges = [e for e in _LOW_EDGES if e < fmax]
    while edges[-1] * 2 ** (1 / 3) < fmax:
        edges.append(edges[-1] * 2 ** (1 / 3))
    if fmax - edges[-1] < 0.5 * edges[-1] * (2 ** (1 / 3) - 1):
        edges[-1] = fmax  # a sliver at the top joins the band below
    else:
        edges.append(fmax)
    return edges


class BandTransients(nn.Module):
    """``power (B, frames, bins)`` -> ``(B * blocks, 2 * channels)`` transient evidence per block.

    Parameters
    ----------
    bin_hz
        Width of one STFT bin in Hz.
    n_bins
        Bins of the power spectrum (bin ``k`` at ``k * bin_hz``).
    fmax
        Top of the highest band, Hz.
    channels
        Width of the convolution across bands.
    """

    def __init__(self, bin_hz: float, n_bins: int, fmax: float, channels: int = 16) -> None:
        super().__init__()
        edges = torch.tensor(third_octave_edges(fmax))
        freqs = torch.arange(n_bins) * bin_hz
        member = ((freqs[:, None] >= edges[:-1]) & (freqs[:, None] < edges[1:])).float()
        keep = member.sum(0) > 0  # bands narrower than a bin at the bottom hold none: dropped
        member = member[:, keep]
        self.register_buffer("band_matrix", member / member.sum(0), persistent=False)
        centres = torch.sqrt(edges[:-1].clamp(min=1.0) * edges[1:])[keep]
        self.register_buffer("band_position", (centres / fmax).float(), persistent=False)
        self.channels = channels
        self.conv = nn.Sequential(nn.Conv1d(3, channels, 3, padding=1), nn.ReLU())

    @property
    def n_bands(self) -> int:
        """Number of bands."""
        return int(self.band_matrix.shape[1])

    def band_levels(self, power: torch.Tensor) -> torch.Tensor:
        """``(B, frames, bins)`` linear power -> ``(B, frames, bands)`` mean band power in dB."""
        return 10.0 * torch.log10(torch.matmul(power, self.band_matrix))

    def forward(self, power: torch.Tensor, frames: torch.Tensor | None,
                block_frames: int) -> torch.Tensor:
        """Per-block evidence.

        Parameters
        ----------
        power
            ``(B, frames, bins)`` linear frame powers (with the model's floor added: no zeros).
        frames
            ``(B, frames)`` 1 for real frames, or None when all are real.
        block_frames
            Frames per block; a window shorter than one block is one block.
        """
        level = self.band_levels(power)  # (B, T, bands)
        batch, count, bands = level.shape
        known = level if frames is None else level.masked_fill(frames.unsqueeze(-1) == 0, _EMPTY)
        padded = nn.functional.pad(known, (0, 0, _GAP, _GAP), value=_EMPTY)
        neighbours = torch.maximum(padded[:, : count], padded[:, 2 * _GAP :])
        spike = (level - neighbours).clamp(-60.0, 60.0)

        blocks = max(1, count // block_frames)
        length = blocks * block_frames if count >= block_frames else count
        level = level[:, :length].reshape(batch * blocks, length // blocks, bands)
        spike = spike[:, :length].reshape(batch * blocks, length // blocks, bands)
        if frames is None:
            peak = level.amax(1) - level.mean(1)
            isolated = spike.amax(1)
        else:
            m = frames[:, :length].reshape(batch * blocks, length // blocks, 1).to(level.dtype)
            has = (m.sum(1) > 0).to(level.dtype)  # a block of padding alone gives zeros
            peak = (masked_max(level, m, 1) - masked_mean(level, m, 1)) * has
            isolated = masked_max(spike, m, 1) * has
        stats = torch.stack([peak / 10.0, isolated / 10.0, self.band_position.expand_as(peak)], 1)
        evidence = self.conv(stats)  # (B*K, C, bands)
        return torch.cat([evidence.amax(-1), evidence.mean(-1)], -1)

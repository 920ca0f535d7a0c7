"""The fast default CPU model: hand-designed measures of stationarity and periodicity.

Hearing-aid artifacts are either *stationary narrow lines* (whine, clock spurs,
idle tones, buzz combs) or *periodic / isolated impulses and modulations*
(TDMA and packet buzz, ticks, thumps, a gated noise floor, clicks), often at low
level and often intermittent. A generic image CNN on a log-mel picture spends
its budget learning what these few measures say directly, and the mel scale
throws away the frequency resolution a weak line needs. So this model computes
them explicitly and learns only small networks on top:

1. **Fine STFT** (``n_fft`` 2048 at 32 kHz: 15.6 Hz bins, hop 1024) up to
   ``fmax``. A line keeps its energy in one bin, the noise spreads over all.
2. **Per-bin temporal statistics** in blocks of about 1 s: mean log power
   (relative to the window), prominence over the neighbouring bins, standard
   deviation over time, peak over the mean, and mean frame-to-frame change.
   A noise bin's log power fluctuates by about 5.6 dB (standard deviation of a
   chi-square with 2 degrees of freedom in dB) whatever its level; a line's
   bin is steadier. Blocks keep intermittent artifacts visible.
   A small 1-D CNN across frequency turns them into line evidence, pooled by
   max (one line is enough) and mean over bins and blocks.
3. **Comb measure**: autocorrelation across frequency of the prominence
   profile (lags up to ``comb_lags`` bins): harmonic families and buzz combs
   (50-217 Hz spacings) give periodic peaks.
4. **Slow periodicity**: normalised autocorrelation over time of a few band
   log-energy envelopes at the frame rate (lags up to ``max_lag_s``):
   ticks every 0.5-1.3 s, thumps, slow floor modulation.
5. **Fast periodicity and transients**: 1 ms energy envelopes of the
   waveform and of its first difference, in 1 s blocks: their normalised
   autocorrelation at lags up to ``fast_lags`` ms (TDMA 4.6 ms, packet
   intervals 7.5-20 ms, floor modulation at packet rates) and their peak over
   the mean (clicks).

A small MLP head maps the pooled features to one artifact logit per window.

The FFT is ``torch.fft.rfft`` in PyTorch. Under export (``torch.onnx.export``
with ``dynamo=True``) the same spectrum is computed as a two-stage
Cooley-Tukey DFT made of matrix products, because ONNX Runtime's ``DFT``
operator is many times slower than its ``MatMul`` (see docs/models.md).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from audio_artifacts.models.masking import (
    check_lengths,
    frame_mask,
    masked_autocorrelation,
    masked_max,
    masked_mean,
    sample_mask,
)
from audio_artifacts.models.transients import BandTransients


def _split_size(n: int) -> tuple[int, int]:
    """Factor ``n = n1 * n2`` with ``n2`` the largest divisor <= sqrt(n)."""
    n2 = int(math.isqrt(n))
    while n % n2:
        n2 -= 1
    return n // n2, n2


class FramePower(nn.Module):
    """Power spectrum of Hann-windowed frames, bins ``0 .. n_bins - 1``.

    ``(batch, samples) -> (batch, frames, n_bins)``, frames without centring:
    ``frames = (samples - n_fft) // hop + 1``.

    Parameters
    ----------
    n_fft
        Frame length in samples (also the DFT size).
    hop
        Frame hop in samples.
    n_bins
        Number of lowest bins kept (<= ``n_fft // 2 + 1``).
    """

    def __init__(self, n_fft: int, hop: int, n_bins: int) -> None:
        super().__init__()
        if not 0 < n_bins <= n_fft // 2 + 1:
            raise ValueError(f"n_bins must be in 1..{n_fft // 2 + 1}, got {n_bins}")
        self.n_fft, self.hop, self.n_bins = n_fft, hop, n_bins
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        # Matrix-product DFT (used under export): n = n1 + N1*n2, k = k2 + N2*k1.
        big, small = _split_size(n_fft)
        self.n1, self.n2 = big, small
        self.k1_count = math.ceil(n_bins / small)
        n2 = torch.arange(small, dtype=torch.float64)
        n1 = torch.arange(big, dtype=torch.float64)
        k1 = torch.arange(self.k1_count, dtype=torch.float64)
        inner = -2 * math.pi * torch.outer(n2, n2) / small  # [k2, n2]
        twiddle = -2 * math.pi * torch.outer(n2, n1) / n_fft  # [k2, n1]
        outer = -2 * math.pi * torch.outer(n1, k1) / big  # [n1, k1]
        buffers = {
            "inner_re": torch.cos(inner), "inner_im": torch.sin(inner),
            "twiddle_re": torch.cos(twiddle), "twiddle_im": torch.sin(twiddle),
            # [[re, im], [-im, re]] so one product gives real and imaginary parts
            "outer": torch.cat(
                [torch.cat([torch.cos(outer), torch.sin(outer)], 1),
                 torch.cat([-torch.sin(outer), torch.cos(outer)], 1)], 0),
            "window_grid": torch.hann_window(n_fft, periodic=True, dtype=torch.float64).view(small, big),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float(), persistent=False)

    def n_frames(self, n_samples: int) -> int:
        """Frames for an input of ``n_samples`` samples."""
        return (n_samples - self.n_fft) // self.hop + 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform.unfold(-1, self.n_fft, self.hop)
        if torch.compiler.is_exporting():
            return self._matmul_power(frames)
        spectrum = torch.fft.rfft(frames * self.window, dim=-1)[..., : self.n_bins]
        return (spectrum * spectrum.conj()).real

    def _matmul_power(self, frames: torch.Tensor) -> torch.Tensor:
        batch, count = frames.shape[0], frames.shape[1]
        grid = frames.reshape(batch, count, self.n2, self.n1) * self.window_grid
        y_re = torch.matmul(self.inner_re, grid)  # (B, T, k2, n1)
        y_im = torch.matmul(self.inner_im, grid)
        z_re = y_re * self.twiddle_re - y_im * self.twiddle_im
        z_im = y_re * self.twiddle_im + y_im * self.twiddle_re
        out = torch.matmul(torch.cat([z_re, z_im], -1), self.outer)  # (B, T, k2, 2*k1)
        power = out[..., : self.k1_count].square() + out[..., self.k1_count :].square()
        return power.transpose(-1, -2).reshape(batch, count, -1)[..., : self.n_bins]


def normalised_autocorrelation(signal: torch.Tensor, max_lag: int, eps: float = 1e-2) -> torch.Tensor:
    """Autocorrelation of mean-removed signals at lags ``1 .. max_lag``, over lag 0.

    Parameters
    ----------
    signal
        ``(..., length)`` with ``length > max_lag``.
    max_lag
        Largest lag in samples.
    eps
        Added to the lag-0 power (in squared signal units): signals that
        vary less than this have no meaningful periodicity and give about 0
        (for envelopes in dB, 1e-2 dB^2).

    Returns
    -------
    torch.Tensor
        ``(..., max_lag)``; about 0 for white noise, near 1 at the period of a
        periodic signal.
    """
    centred = signal - signal.mean(-1, keepdim=True)
    length = signal.shape[-1] - max_lag
    head = centred[..., :length]
    # one product per lag: contiguous reads, unlike an unfold that materialises all lags
    products = [(head * centred[..., lag : lag + length]).mean(-1) for lag in range(max_lag + 1)]
    return torch.stack(products[1:], -1) / (products[0].unsqueeze(-1) + eps)


class FastArtifactNet(nn.Module):
    """The default CPU model: ``waveform (B, samples) -> logits (B,)``.

    Parameters
    ----------
    sample_rate
        Input rate in Hz.
    n_fft, hop
        STFT frame and hop in samples (2048 / 1024: 15.6 Hz bins, 32 ms hop).
    fmax
        Highest analysed frequency in Hz.
    block_seconds
        Length of the blocks over which temporal statistics are taken.
    bands
        Band edges in Hz of the slow envelopes (ascending, up to ``fmax``).
    max_lag_s
        Largest lag of the slow envelope autocorrelation, seconds.
    comb_lags
        Largest lag in bins of the across-frequency autocorrelation.
    fast_hop
        Samples per value of the fast energy envelopes (32 = 1 ms at 32 kHz).
    fast_lags
        Largest lag (in envelope values) of the fast autocorrelation.
    channels
        Width of the across-frequency CNN.
    hidden
        Width of the head.
    floor_db
        The log spectrum's floor, in dB below the window's mean bin power.
    dropout
        Dropout before the last layer.
    line_stats
        Use the per-bin temporal statistics (sd, peak, change); False keeps only
        the mean spectrum and prominence (ablation).
    periodicity
        Use the slow and fast periodicity branches (ablation).
    level_following
        Add a per-bin statistic: the correlation over time of the bin's level
        with the mean level of all bins. A device's own line does not follow
        the input; a voice's or an instrument's partial does. (False keeps
        the layout of models trained before it existed.)
    floor_stats
        Add two per-bin statistics from the window's *floor spectrum* (each
        bin's lowest 128 ms mean over the window's real frames): its prominence
        over the neighbouring bins, and how far the block's mean lies above it.
        A line the device adds is there in the quiet moments too, so it stands
        out of the floor; a voice's or a melody's partials move and do not.
    band_transients
        Add the band-transient branch (``models.transients``): per third-octave
        band and block, the level's peak over its mean and how far a frame rises
        over both neighbours two frames away. Clicks and pops stand out of a
        band's averaged noise where they do not out of one bin's, and an
        isolated burst is gone 64 ms later where an onset stays. Measured on
        the full split it did not find more clicks (docs/models.md), so the
        bundled model is trained without it.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 2048,
        hop: int = 1024,
        fmax: float = 12000.0,
        block_seconds: float = 1.0,
        bands: tuple[float, ...] | list[float] = (0, 300, 1000, 2000, 3500, 5500, 8000, 12000),
        max_lag_s: float = 1.5,
        comb_lags: int = 24,
        fast_hop: int = 32,
        fast_lags: int = 40,
        channels: int = 16,
        hidden: int = 64,
        floor_db: float = 80.0,
        dropout: float = 0.2,
        line_stats: bool = True,
        periodicity: bool = True,
        level_following: bool = False,
        floor_stats: bool = False,
        band_transients: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < fmax <= sample_rate / 2:
            raise ValueError(f"fmax must be in (0, sample_rate/2], got {fmax}")
        bands = [float(b) for b in bands]
        if len(bands) < 2 or any(b <= a for a, b in zip(bands, bands[1:])) or bands[-1] > fmax:
            raise ValueError(f"bands must be >= 2 ascending edges up to fmax={fmax}, got {bands}")
        self._arguments = dict(
            sample_rate=sample_rate, n_fft=n_fft, hop=hop, fmax=fmax, block_seconds=block_seconds,
            bands=bands, max_lag_s=max_lag_s, comb_lags=comb_lags, fast_hop=fast_hop,
            fast_lags=fast_lags, channels=channels, hidden=hidden, floor_db=floor_db, dropout=dropout,
            line_stats=line_stats, periodicity=periodicity, level_following=level_following,
            floor_stats=floor_stats, band_transients=band_transients,
        )
        self.sample_rate = sample_rate
        self.floor_ratio = 10.0 ** (-floor_db / 10.0)
        bin_hz = sample_rate / n_fft
        n_bins = int(fmax / bin_hz) + 1
        self.power = FramePower(n_fft, hop, n_bins)
        self.block_frames = max(2, round(block_seconds * sample_rate / hop))
        self.max_lag = max(1, round(max_lag_s * sample_rate / hop))
        self.comb_lags = comb_lags
        self.fast_hop, self.fast_lags = fast_hop, fast_lags
        self.fast_block = max(fast_lags + 2, round(block_seconds * sample_rate / fast_hop))
        self.line_stats, self.periodicity = line_stats, periodicity
        self.spec_augment: nn.Module | None = None

        freqs = torch.arange(n_bins) * bin_hz
        self.register_buffer("bin_position", (freqs / fmax).float(), persistent=False)
        edges = torch.tensor(bands)
        member = ((freqs[:, None] >= edges[:-1]) & (freqs[:, None] < edges[1:])).float()
        if freqs[-1] >= edges[-1]:
            member[-1, -1] = 1.0  # the bin at the top edge belongs to the top band
        self.register_buffer("band_matrix", member / member.sum(0).clamp(min=1), persistent=False)

        self.level_following = level_following and line_stats
        # (mean, prominence, position) + (sd, peak, change) + (follows the input's level)
        self.floor_stats = floor_stats
        # + (the window's floor spectrum: its prominence, the block's level over it)
        stat_channels = (6 if line_stats else 3) + int(self.level_following) + 2 * int(floor_stats)
        self.line_norm = nn.BatchNorm1d(stat_channels)
        # the first conv compares a bin with its neighbours; max-pooling over bin pairs keeps
        # a line's evidence while halving the cost of the second conv
        self.line_cnn = nn.Sequential(
            nn.Conv1d(stat_channels, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
        )
        self.comb_mlp = nn.Sequential(nn.Linear(comb_lags, 16), nn.ReLU())
        features = 4 * channels + 2 * 16
        if periodicity:
            self.slow_mlp = nn.Sequential(nn.Linear(self.max_lag, 32), nn.ReLU())
            self.fast_mlp = nn.Sequential(nn.Linear(fast_lags + 1, 32), nn.ReLU())
            features += 2 * 32 + 2 * 2 * 32
        self.transients = BandTransients(bin_hz, n_bins, fmax, 16) if band_transients else None
        if self.transients is not None:
            features += 2 * 2 * self.transients.channels
        self.head = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), to rebuild this model."""
        return dict(self._arguments)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"backbone": feature stages, "head": the final MLP}``."""
        head = list(self.head.parameters())
        head_ids = {id(p) for p in head}
        return {
            "backbone": [p for p in self.parameters() if id(p) not in head_ids],
            "head": head,
        }

    # --- feature stages (public so tests and docs can look at them) -----------------
    # Every stage takes optional masks (1 = real, 0 = padding; ``models.masking``);
    # without them every sample counts.

    def frame_mask(self, lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``(B, frames)``: 1 for STFT frames wholly inside the real samples."""
        return frame_mask(lengths, n_frames, self.power.n_fft, self.power.hop)

    def log_power(self, waveform: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, samples) -> (B, 1, frames, bins)`` log power in dB (the feature map).

        The floor added before the log is ``floor_db`` below the mean bin power
        of the window's real frames (``frames``, ``(B, frames)``), not a fixed
        number: recordings sit anywhere from -20 to -120 dBFS, and a fixed floor
        above a quiet device's noise would flatten its bins into perfectly
        "stable lines".
        """
        return (10.0 * torch.log10(self.floored_power(waveform, frames))).unsqueeze(1)

    def floored_power(self, waveform: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, samples) -> (B, frames, bins)`` linear power plus the floor of :meth:`log_power`."""
        power = self.power(waveform)
        if frames is None:
            mean = power.mean((1, 2), keepdim=True)
        else:
            mean = masked_mean(power.mean(2, keepdim=True), frames.unsqueeze(-1), 1, keepdim=True)
        # a clamp, not "+ 1e-30": onnxscript's optimiser drops tiny added constants
        return power + torch.clamp(mean * self.floor_ratio, min=1e-20)

    def _blocks(self, frames: int) -> tuple[int, int]:
        blocks = max(1, frames // self.block_frames)
        length = blocks * self.block_frames if frames >= self.block_frames else frames
        return blocks, length

    def block_mask(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, frames) -> (B, blocks)``: a block counts when at least half its frames are real (block 0 always)."""
        batch, count = frames.shape
        blocks, length = self._blocks(count)
        real = frames[:, :length].reshape(batch, blocks, length // blocks).sum(-1)
        valid = real >= max(2.0, 0.5 * (length // blocks))
        valid[:, 0] = True
        return valid.to(frames.dtype)

    def bin_statistics(self, log_power: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """Per-bin temporal statistics in blocks.

        ``(B, 1, frames, bins) -> (B * blocks, channels, bins)``; channels are
        mean (dB re window mean), prominence over +-8 neighbour bins, bin
        position, then (if ``line_stats``) standard deviation over time (dB),
        peak over mean (dB), mean absolute frame-to-frame change (dB) and the
        correlation over time of the bin with the mean level of all bins
        (a line the device adds by itself does not follow the input's level;
        a voice's or an instrument's partial does). Only real frames count.
        """
        batch, _, count, bins = log_power.shape
        blocks, length = self._blocks(count)
        x = log_power[:, 0, :length].reshape(batch * blocks, length // blocks, bins)
        m = None if frames is None else frames[:, :length].reshape(batch * blocks, length // blocks, 1).to(x.dtype)

        count = None if m is None else m.sum(1).clamp(min=1.0)  # (B*K, 1) real frames per block

        def over_time(values: torch.Tensor, zeroed: bool = False) -> torch.Tensor:
            """Mean over the block's real frames; ``zeroed``: ``values`` is 0 in the padding already."""
            if m is None:
                return values.mean(1)
            return (values if zeroed else values * m).sum(1) / count

        mean = over_time(x)  # (B*K, bins)
        level = mean.mean(-1, keepdim=True)
        local = nn.functional.avg_pool1d(
            mean.unsqueeze(1), 17, stride=1, padding=8, count_include_pad=False
        ).squeeze(1)
        stats = [(mean - level) / 10.0, (mean - local) / 5.0, self.bin_position.expand_as(mean)]
        if self.line_stats:
            deviation = x - mean.unsqueeze(1)
            if m is not None:
                deviation = deviation * m
            spread = over_time(deviation.square(), zeroed=True).sqrt()
            peak = (x.amax(1) if m is None else masked_max(x, m, 1)) - mean
            steps = (x[:, 1:] - x[:, :-1]).abs()
            if m is None:
                change = steps.mean(1)
            else:
                pairs = m[:, 1:] * m[:, :-1]
                change = (steps * pairs).sum(1) / pairs.sum(1).clamp(min=1.0)
            stats += [spread / 5.6, peak / 10.0, change / 7.0]
            if self.level_following:
                overall = deviation.mean(-1, keepdim=True)  # (B*K, frames, 1): the level's course
                covariance = over_time(deviation * overall, zeroed=True)
                overall_sd = over_time(overall.square(), zeroed=True).sqrt()
                stats.append(covariance / (spread * overall_sd + 0.05))
        if self.floor_stats:
            floor = self.floor_spectrum(log_power, frames).repeat_interleave(blocks, 0)  # (B*K, bins)
            floor_local = nn.functional.avg_pool1d(
                floor.unsqueeze(1), 17, stride=1, padding=8, count_include_pad=False
            ).squeeze(1)
            stats += [(floor - floor_local) / 5.0, (mean - floor) / 10.0]
        stats = torch.stack(stats, 1)
        if m is None:
            return stats
        # a block of padding alone gives zeros (not the -1e9 of an empty max)
        return stats * (m.sum(1, keepdim=True) > 0).to(x.dtype)

    def floor_spectrum(self, log_power: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, 1, frames, bins) -> (B, bins)``: each bin's floor over the window's real frames (dB).

        The floor is the lowest mean over runs of 4 frames (128 ms): a pause of
        that length anywhere in the window shows what stays when the input is
        away. (A sorted percentile costs ten times more for the same answer.)
        """
        x = log_power[:, 0]
        batch, count, bins = x.shape
        run = min(4, count)
        runs = count // run
        x = x[:, : runs * run].reshape(batch, runs, run, bins)
        if frames is None:
            return x.mean(2).amin(1)
        m = frames[:, : runs * run].reshape(batch, runs, run, 1).to(x.dtype)
        means = masked_mean(x, m, 2)  # (B, runs, bins)
        return masked_max(-means, (m.sum(2) > 0).to(x.dtype), 1).neg()

    def comb_correlation(self, statistics: torch.Tensor) -> torch.Tensor:
        """Across-frequency autocorrelation of the prominence: ``(N, C, bins) -> (N, comb_lags)``."""
        return normalised_autocorrelation(statistics[:, 1], self.comb_lags, eps=1e-3)

    def slow_periodicity(self, log_power: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """Band envelope autocorrelation: ``(B, 1, frames, bins) -> (B, bands, max_lag)``."""
        # mean of dB over the band's bins (a geometric mean): no power round trip
        envelope = torch.matmul(log_power[:, 0], self.band_matrix).transpose(1, 2)  # (B, bands, frames)
        mask = None if frames is None else frames.unsqueeze(1)
        return masked_autocorrelation(envelope, mask, self.max_lag, eps=1e-2)

    def _fast_envelopes(self, waveform: torch.Tensor,
                        lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = waveform.shape[0]
        count = (waveform.shape[-1] - 1) // self.fast_hop
        size = count * self.fast_hop
        difference = waveform[:, 1 : size + 1] - waveform[:, :size]
        # RMS per envelope step, one pass each (vector_norm needs no squared copy)
        envelopes = torch.stack([
            torch.linalg.vector_norm(waveform[:, :size].reshape(batch, count, self.fast_hop), dim=-1),
            torch.linalg.vector_norm(difference.reshape(batch, count, self.fast_hop), dim=-1),
        ], 1)  # (B, 2, count)
        if lengths is None:
            steps, mean = None, envelopes.mean(-1, keepdim=True)
        else:
            steps = frame_mask(lengths, count, self.fast_hop + 1, self.fast_hop).unsqueeze(1)
            mean = masked_mean(envelopes, steps, -1, keepdim=True)
        # floor 80 dB under the mean real envelope, as for the spectrum: any recording level
        return 20.0 * torch.log10(envelopes + torch.clamp(mean * 1e-4, min=1e-12)), steps

    def fast_periodicity(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """1 ms envelopes of the waveform and of its first difference, in blocks.

        ``(B, samples) -> (B * blocks, 2, fast_lags + 1)``: normalised
        autocorrelation at lags 1..fast_lags, then the peak over the mean (dB / 10),
        over the real samples only.
        """
        return self._fast_features(waveform, None if lengths is None else check_lengths(waveform, lengths))[0]

    def _fast_features(self, waveform: torch.Tensor,
                       lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = waveform.shape[0]
        envelope, steps = self._fast_envelopes(waveform, lengths)
        count = envelope.shape[-1]
        blocks = max(1, count // self.fast_block)
        step = count // blocks
        env = envelope[..., : blocks * step].reshape(batch, 2, blocks, step).transpose(1, 2)
        env = env.reshape(batch * blocks, 2, step)
        if steps is None:
            correlation = masked_autocorrelation(env, None, self.fast_lags, eps=1e-2)
            peak = (env.amax(-1, keepdim=True) - env.mean(-1, keepdim=True)) / 10.0
            return torch.cat([correlation, peak], -1), None
        m = steps[..., : blocks * step].reshape(batch, blocks, 1, step).reshape(batch * blocks, 1, step)
        correlation = masked_autocorrelation(env, m, self.fast_lags, eps=1e-2)
        peak = (masked_max(env, m, -1, keepdim=True) - masked_mean(env, m, -1, keepdim=True)) / 10.0
        peak = peak * (m.sum(-1, keepdim=True) > 0).to(env.dtype)
        valid = m.reshape(batch, blocks, step).sum(-1) >= 0.5 * step
        valid[:, 0] = True
        return torch.cat([correlation, peak], -1), valid.to(waveform.dtype)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``waveform (B, samples)`` at ``sample_rate`` -> artifact logits ``(B,)``.

        ``lengths`` (``(B,)`` int64, None = all real) counts the real samples at
        the start of each row; the rest is padding, which no statistic sees.
        A batch of whole windows takes the same arithmetic without masks
        (eagerly; an exported graph always masks).
        """
        if waveform.dim() != 2:
            raise ValueError(f"expected waveform (batch, samples), got shape {tuple(waveform.shape)}")
        batch, n_samples = waveform.shape
        lengths = check_lengths(waveform, lengths)
        if torch.compiler.is_exporting():
            return self._logits(waveform, lengths, masked=True)
        short = lengths < n_samples
        if not bool(short.any()):
            return self._logits(waveform, lengths, masked=False)
        if bool(short.all()):
            return self._logits(waveform, lengths, masked=True)
        # a mixed batch: whole windows without masks (several times cheaper, in training too)
        out = waveform.new_empty(batch)
        whole, cut = (~short).nonzero().squeeze(1), short.nonzero().squeeze(1)
        out = out.index_put((whole,), self._logits(waveform[whole], lengths[whole], masked=False))
        return out.index_put((cut,), self._logits(waveform[cut], lengths[cut], masked=True))

    def embedding(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``waveform (B, samples) -> (B, features)``: the pooled measures the head reads.

        The same numbers :meth:`forward` maps to a logit (what a type head or
        another task can be fitted on); padding is never seen.
        """
        lengths = check_lengths(waveform, lengths)
        return self._embedding(waveform, lengths, masked=bool((lengths < waveform.shape[1]).any()))

    def _logits(self, waveform: torch.Tensor, lengths: torch.Tensor, masked: bool) -> torch.Tensor:
        return self.head(self._embedding(waveform, lengths, masked)).squeeze(-1)

    def _embedding(self, waveform: torch.Tensor, lengths: torch.Tensor, masked: bool) -> torch.Tensor:
        batch, n_samples = waveform.shape
        if masked:
            real = sample_mask(lengths, n_samples, waveform.dtype)
            # recorders leave DC offsets; the padding becomes exact zeros whatever it held
            waveform = (waveform - masked_mean(waveform, real, -1, keepdim=True)) * real
            frames = self.frame_mask(lengths, self.power.n_frames(n_samples))
            blocks = self.block_mask(frames).unsqueeze(-1)  # (B, K, 1)
        else:
            waveform = waveform - waveform.mean(-1, keepdim=True)
            frames = blocks = None
        power = self.floored_power(waveform, frames)
        log_power = (10.0 * torch.log10(power)).unsqueeze(1)
        if self.spec_augment is not None and self.training:
            log_power = self.spec_augment(log_power)

        stats = self.bin_statistics(log_power, frames)
        lines = self.line_cnn(self.line_norm(stats))  # (B*K, C, bins)
        lines = torch.cat([lines.amax(-1), lines.mean(-1)], -1).reshape(batch, -1, lines.shape[1] * 2)
        comb = self.comb_mlp(self.comb_correlation(stats)).reshape(batch, -1, 16)
        parts = [*_pool(lines, blocks), *_pool(comb, blocks)]
        if self.periodicity:
            slow = self.slow_mlp(self.slow_periodicity(log_power, frames))  # (B, bands, 32)
            fast, fast_blocks = self._fast_features(waveform, lengths if masked else None)
            fast = self.fast_mlp(fast).reshape(batch, -1, 2 * 32)  # (B, K', 64)
            parts += [slow.amax(1), slow.mean(1), *_pool(fast, None if fast_blocks is None else fast_blocks.unsqueeze(-1))]
        if self.transients is not None:
            bursts = self.transients(power, frames, self.block_frames).reshape(batch, -1, 2 * self.transients.channels)
            parts += [*_pool(bursts, blocks)]
        return torch.cat(parts, -1)


def _pool(x: torch.Tensor, blocks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Max and mean of ``(B, K, F)`` over the blocks (the real ones, when ``blocks`` ``(B, K, 1)`` is given)."""
    if blocks is None:
        return x.amax(1), x.mean(1)
    return masked_max(x, blocks, 1), masked_mean(x, blocks, 1)

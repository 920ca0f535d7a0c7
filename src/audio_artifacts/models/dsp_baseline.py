"""A classical DSP baseline: hand-made measures and a logistic regression.

The learned models must beat something that needs no learning beyond one
linear layer. Per window this model measures what each artifact family is
known for and nothing else:

* **tonality** (whine, idle tones, clock spurs), after ECMA-418-1: a fine
  spectrum (``~0.13 s`` frames), averaged over the window's frames both by
  the mean and by the median (the median ignores speech bursts). For each
  local peak, the *tone-to-noise ratio* (power of the peak's three bins
  against the rest of the critical band around it, scaled to the whole band)
  and the *prominence ratio* (mean power of the critical band against the
  mean of its two neighbouring bands); the maximum over the spectrum of
  each and the number of tones above ECMA-418-1's prominence criterion.
  Critical bandwidth: 100 Hz below 500 Hz, 20 % of the frequency above.
  Also the temporal stability of the most tonal bin: the standard deviation
  of its level over the frames (a noise bin fluctuates by about 5.6 dB).
* **envelope periodicity** (TDMA / packet buzz, ticks, thumps, floor AM):
  band energy envelopes at 1 ms (from 2 ms frames) and at 32 ms, in dB,
  detrended by a moving mean; the largest normalised autocorrelation over
  the lags where such artifacts repeat (4-40 ms fine, 0.1-1.5 s coarse).
* **impulsiveness** (clicks, ticks): kurtosis of the waveform and of its
  first difference (as ``log(1 + kurtosis)``) and the crest factor in dB.

The features are standardised (mean / std from the training windows, stored
as buffers) and mapped to one artifact logit by ``nn.Linear``. Fitting is not
gradient training: see :mod:`audio_artifacts.training.baseline_fit`.

Length-aware: ``forward(waveform, lengths)`` zeroes everything after
``lengths[b]`` and every statistic uses only frames lying wholly inside the
real audio (at least the first frame), so whatever fills the padding, the
logit is the same.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

#: Names of the features, in the order of :meth:`DspBaseline.features` (band features use the band's edges).
TONAL_FEATURES = (
    "tnr_max_median_db", "pr_max_median_db", "tones_median_log1p",
    "tnr_max_mean_db", "pr_max_mean_db", "tones_mean_log1p", "peak_level_std_db",
)
IMPULSE_FEATURES = ("kurtosis_log1p", "diff_kurtosis_log1p", "crest_factor_db")
DEFAULT_BANDS = (50.0, 500.0, 2000.0, 5000.0, 12000.0)
FINE_LAGS_MS = (4, 40)
COARSE_LAGS_S = (0.1, 1.5)
_FLOOR_DB = -60.0


def critical_bandwidth(freq_hz: torch.Tensor) -> torch.Tensor:
    """ECMA-418-1 critical bandwidth in Hz: 100 Hz below 500 Hz, else 20 % of ``freq_hz``."""
    return torch.where(freq_hz < 500.0, torch.full_like(freq_hz, 100.0), 0.2 * freq_hz)


def tone_criterion_db(freq_hz: torch.Tensor) -> torch.Tensor:
    """ECMA-418-1 tone-to-noise criterion in dB: 8 dB from 1 kHz, rising below."""
    low = 8.0 + 8.33 * torch.log10(1000.0 / freq_hz.clamp(min=1.0))
    return torch.where(freq_hz < 1000.0, low, torch.full_like(freq_hz, 8.0))


def valid_frames(lengths: torch.Tensor, n_frames: int, frame: int, hop: int) -> torch.Tensor:
    """``(B, n_frames)`` float mask: frame wholly inside the real audio (the first frame always counts)."""
    ends = torch.arange(n_frames, device=lengths.device) * hop + frame
    mask = ends.unsqueeze(0) <= lengths.unsqueeze(1)
    mask[:, 0] = True
    return mask.float()


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (broadcastable, 0/1) is 1."""
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_autocorrelation(
    signal: torch.Tensor, mask: torch.Tensor, lags: range, min_pairs: int = 8, eps: float = 1e-2
) -> torch.Tensor:
    """Normalised autocorrelation over valid samples only.

    Parameters
    ----------
    signal : ``(..., T)``
    mask : ``(..., T)`` broadcastable, 1 where ``signal`` is real
    lags : lags in samples (each ``< T``)
    min_pairs : a lag with fewer valid pairs than this gives 0
    eps : added to the variance (signal units squared): a flat signal has no periodicity

    Returns
    -------
    ``(..., len(lags))``: about 0 for noise, near 1 at the period of a periodic signal.
    """
    count = mask.sum(-1, keepdim=True).clamp(min=1.0)
    centred = (signal - (signal * mask).sum(-1, keepdim=True) / count) * mask
    variance = (centred * centred).sum(-1) / count.squeeze(-1)
    values = []
    for lag in lags:
        pairs = (mask[..., :-lag] * mask[..., lag:]).sum(-1)
        product = (centred[..., :-lag] * centred[..., lag:]).sum(-1)
        values.append(product / pairs.clamp(min=1.0) * (pairs >= min_pairs).float())
    return torch.stack(values, -1) / (variance.unsqueeze(-1) + eps)


class DspBaseline(nn.Module):
    """Classical baseline: ``waveform (B, S), lengths (B,) -> artifact logits (B,)``.

    Parameters
    ----------
    sample_rate : Hz of the input.
    n_fft : frame of the tonality spectrum in samples (None: the power of two
        nearest 0.128 s, 4096 at 32 kHz = 7.8 Hz bins); hop is half of it.
    fmin, fmax : Hz, where tones are looked for (``fmax`` is clipped to 45 % of the rate).
    bands : Hz, edges of the envelope bands (clipped to the Nyquist frequency).
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int | None = None,
        fmin: float = 50.0,
        fmax: float = 10000.0,
        bands: list[float] | tuple[float, ...] = DEFAULT_BANDS,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
        n_fft = n_fft or 2 ** round(math.log2(0.128 * sample_rate))
        if n_fft < 256:
            raise ValueError(f"n_fft must be >= 256 samples, got {n_fft}")
        fmax = min(float(fmax), 0.45 * sample_rate)
        if not 0 < fmin < fmax:
            raise ValueError(f"need 0 < fmin < fmax (fmax clipped to 0.45 * sample_rate), got {fmin}, {fmax}")
        edges = sorted({min(float(b), sample_rate / 2) for b in bands})
        if len(edges) < 2:
            raise ValueError(f"bands needs at least two distinct edges below Nyquist, got {list(bands)}")
        self._arguments = {"sample_rate": int(sample_rate), "n_fft": int(n_fft), "fmin": float(fmin),
                           "fmax": float(fmax), "bands": list(bands)}
        self.sample_rate, self.n_fft, self.hop = int(sample_rate), int(n_fft), int(n_fft) // 2
        self.spec_augment: nn.Module | None = None  # the registry convention; no feature map to mask here
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)
        self._tonal_indices(fmin, fmax)
        # envelope frames: 2 ms, hop 1 ms; coarse = 32 fine frames
        self.env_hop = max(1, round(sample_rate / 1000))
        self.env_frame = 2 * self.env_hop
        self.register_buffer("env_window", torch.hann_window(self.env_frame, periodic=True), persistent=False)
        bin_hz = sample_rate / self.env_frame
        freqs = torch.arange(self.env_frame // 2 + 1) * bin_hz
        columns = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = (freqs >= lo) & (freqs < hi)
            if not inside.any():  # a band narrower than a bin: its nearest bin
                inside = (freqs - (lo + hi) / 2).abs() == (freqs - (lo + hi) / 2).abs().min()
            columns.append(inside)
        band_matrix = torch.stack(columns, 1).float()
        self.register_buffer("band_matrix", band_matrix, persistent=False)
        self.band_names = [f"{lo:g}-{hi:g}Hz" for lo, hi in zip(edges[:-1], edges[1:])]
        self.fine_lags = range(FINE_LAGS_MS[0], FINE_LAGS_MS[1] + 1)
        self.coarse = 32
        coarse_s = self.coarse * self.env_hop / sample_rate
        self.coarse_lags = range(max(1, round(COARSE_LAGS_S[0] / coarse_s)), round(COARSE_LAGS_S[1] / coarse_s) + 1)
        self.feature_names = [
            *TONAL_FEATURES,
            *(f"fine_periodicity_{b}" for b in self.band_names),
            *(f"coarse_periodicity_{b}" for b in self.band_names),
            *IMPULSE_FEATURES,
        ]
        n = len(self.feature_names)
        self.register_buffer("feature_mean", torch.zeros(n))
        self.register_buffer("feature_std", torch.ones(n))
        self.head = nn.Linear(n, 1)

    def _tonal_indices(self, fmin: float, fmax: float) -> None:
        """Bin ranges (cumulative-sum indices) of each bin's critical band and its two neighbours."""
        n_bins = self.n_fft // 2 + 1
        bin_hz = self.sample_rate / self.n_fft
        freqs = torch.arange(n_bins, dtype=torch.float64) * bin_hz
        width = critical_bandwidth(freqs)

        def index(hz: torch.Tensor) -> torch.Tensor:  # bin edge -> cumulative-sum index in [1, n_bins]
            return torch.round(hz / bin_hz).clamp(1, n_bins).long()

        lo, hi = index(freqs - width / 2), index(freqs + width / 2 + bin_hz)
        low_lo, up_hi = index(freqs - 1.5 * width), index(freqs + 1.5 * width + bin_hz)
        hi = torch.maximum(hi, lo + 4)  # room for the tone's three bins plus noise
        low_lo = torch.minimum(low_lo, lo - 1).clamp(min=0)
        up_hi = torch.maximum(up_hi, hi + 1)
        candidate = (freqs >= fmin) & (freqs <= fmax)
        candidate[:2] = False
        candidate[-2:] = False
        lo, hi, low_lo, up_hi = (v.clamp(max=n_bins) for v in (lo, hi, low_lo, up_hi))
        for name, value in {"cb_lo": lo, "cb_hi": hi, "low_lo": low_lo, "up_hi": up_hi}.items():
            self.register_buffer(name, value, persistent=False)
        # widths of the neighbouring bands in bins (at least one: the top bins have no upper band)
        self.register_buffer("low_width", (lo - low_lo).clamp(min=1).float(), persistent=False)
        self.register_buffer("up_width", (up_hi - hi).clamp(min=1).float(), persistent=False)
        self.register_buffer("candidate", candidate.float(), persistent=False)
        self.register_buffer("criterion_db", tone_criterion_db(freqs).float(), persistent=False)

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), to rebuild this model."""
        return dict(self._arguments)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"backbone": [] (no learned features), "head": the logistic regression}``."""
        return {"backbone": [], "head": list(self.head.parameters())}

    # --- features -------------------------------------------------------------------

    @staticmethod
    def _lengths(waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            return torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long, device=waveform.device)
        return lengths.to(waveform.device).long().clamp(min=1, max=waveform.shape[1])

    def _tone_measures(self, spectrum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``spectrum (B, F)`` -> (max TNR dB, max PR dB, log1p tone count, TNR per bin (B, F))."""
        floor = torch.clamp(spectrum.mean(-1, keepdim=True) * 1e-10, min=1e-30)
        s = spectrum + floor
        cum = torch.nn.functional.pad(torch.cumsum(s, -1), (1, 0))
        left = torch.nn.functional.pad(s[:, :-1], (1, 0))
        right = torch.nn.functional.pad(s[:, 1:], (0, 1))
        tone = left + s + right
        band = cum.index_select(1, self.cb_hi) - cum.index_select(1, self.cb_lo)
        n_band = (self.cb_hi - self.cb_lo).float()
        noise = torch.clamp(band - tone, min=0.0) * (n_band / (n_band - 3.0).clamp(min=1.0)) + floor
        tnr = 10.0 * torch.log10(tone / noise)
        lower = (cum.index_select(1, self.cb_lo) - cum.index_select(1, self.low_lo)) / self.low_width
        upper = (cum.index_select(1, self.up_hi) - cum.index_select(1, self.cb_hi)) / self.up_width
        pr = 10.0 * torch.log10((band / n_band.clamp(min=1.0) + floor) / (0.5 * (lower + upper) + floor))
        peak = (s >= left) & (s > right) & (self.candidate > 0)
        floor_db = torch.full_like(tnr, _FLOOR_DB)
        tnr_peak = torch.where(peak, tnr, floor_db)
        pr_peak = torch.where(peak, pr, floor_db)
        count = (peak & (tnr > self.criterion_db)).float().sum(-1)
        return tnr_peak.amax(-1), pr_peak.amax(-1), torch.log1p(count), tnr_peak

    def tonality(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, 7)``: TNR / PR / tone count on the median and the mean spectrum, peak-level std."""
        frames = waveform.unfold(-1, self.n_fft, self.hop)
        power = torch.fft.rfft(frames * self.window, dim=-1).abs().square()  # (B, T, F)
        mask = valid_frames(lengths, power.shape[1], self.n_fft, self.hop)  # (B, T)
        mean_spectrum = masked_mean(power, mask.unsqueeze(-1), 1)
        # masked median over time: invalid frames sort last, take the middle valid one
        ordered = torch.sort(power + (1.0 - mask.unsqueeze(-1)) * 1e30, dim=1).values
        middle = ((mask.sum(1) - 1.0) / 2.0).floor().long()  # (B,)
        index = middle.view(-1, 1, 1).expand(-1, 1, power.shape[2])
        median_spectrum = torch.gather(ordered, 1, index).squeeze(1)
        tnr_med, pr_med, count_med, tnr_bins = self._tone_measures(median_spectrum)
        tnr_mean, pr_mean, count_mean, _ = self._tone_measures(mean_spectrum)
        strongest = tnr_bins.argmax(-1)  # (B,)
        floor = torch.clamp(power.mean((1, 2)) * 1e-10, min=1e-30).unsqueeze(-1)
        line = torch.gather(power, 2, strongest.view(-1, 1, 1).expand(-1, power.shape[1], 1)).squeeze(-1)
        level = 10.0 * torch.log10(line + floor)
        spread = masked_mean((level - masked_mean(level, mask, 1).unsqueeze(-1)).square(), mask, 1)
        return torch.stack([tnr_med, pr_med, count_med, tnr_mean, pr_mean, count_mean, spread.sqrt()], -1)

    def periodicity(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, 2 * bands)``: best fine (4-40 ms) then coarse (0.1-1.5 s) envelope autocorrelation per band."""
        frames = waveform.unfold(-1, self.env_frame, self.env_hop)
        power = torch.fft.rfft(frames * self.env_window, dim=-1).abs().square()  # (B, T, F)
        bands = torch.matmul(power, self.band_matrix).transpose(1, 2)  # (B, bands, T)
        mask = valid_frames(lengths, bands.shape[-1], self.env_frame, self.env_hop).unsqueeze(1)  # (B, 1, T)
        floor = torch.clamp(masked_mean(bands, mask, -1) * 1e-6, min=1e-20).unsqueeze(-1)
        fine = 10.0 * torch.log10(bands + floor)
        n_coarse = bands.shape[-1] // self.coarse
        pooled = (bands * mask)[..., : n_coarse * self.coarse].reshape(bands.shape[0], bands.shape[1], n_coarse, -1)
        coarse_mask = (mask[..., : n_coarse * self.coarse].reshape(mask.shape[0], 1, n_coarse, -1).amin(-1))
        coarse = 10.0 * torch.log10(pooled.mean(-1) + floor)
        fine_r = masked_autocorrelation(self._detrend(fine, mask, 41), mask, self.fine_lags)
        coarse_r = masked_autocorrelation(self._detrend(coarse, coarse_mask, 31), coarse_mask, self.coarse_lags,
                                          min_pairs=16)
        return torch.cat([fine_r.amax(-1), coarse_r.amax(-1)], -1)

    @staticmethod
    def _detrend(envelope: torch.Tensor, mask: torch.Tensor, width: int) -> torch.Tensor:
        """Envelope minus its moving mean over ``width`` valid frames (slow level changes are not periodicity)."""
        channels = envelope.shape[1]
        weights = torch.ones(channels, 1, width, dtype=envelope.dtype, device=envelope.device)
        full_mask = mask.expand_as(envelope)
        total = nn.functional.conv1d(envelope * full_mask, weights, padding=width // 2, groups=channels)
        count = nn.functional.conv1d(full_mask, weights, padding=width // 2, groups=channels)
        return (envelope - total / count.clamp(min=1.0)) * full_mask

    @staticmethod
    def impulsiveness(waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, 3)``: log(1 + kurtosis) of the waveform and of its first difference, crest factor in dB."""
        positions = torch.arange(waveform.shape[1], device=waveform.device).unsqueeze(0)
        mask = (positions < lengths.unsqueeze(1)).float()

        def kurtosis(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            centred = (x - masked_mean(x, m, 1).unsqueeze(1)) * m
            scale = torch.clamp(masked_mean(centred.square(), m, 1).sqrt(), min=1e-12).unsqueeze(1)
            z = centred / scale
            m2 = masked_mean(z.square(), m, 1)
            return masked_mean(z.square().square(), m, 1) / torch.clamp(m2.square(), min=1e-12)

        diff_mask = mask[:, 1:] * mask[:, :-1]
        rms = torch.clamp(masked_mean(waveform.square(), mask, 1).sqrt(), min=1e-10)
        peak = torch.clamp((waveform.abs() * mask).amax(1), min=1e-10)
        return torch.stack([
            torch.log1p(kurtosis(waveform, mask)),
            torch.log1p(kurtosis(waveform[:, 1:] - waveform[:, :-1], diff_mask)),
            20.0 * torch.log10(torch.clamp(peak / rms, min=1.0)),
        ], -1)

    def features(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Raw (unstandardised) features ``(B, n_features)``, in the order of ``feature_names``.

        Parameters
        ----------
        waveform : ``(B, S)`` at ``sample_rate``; ``S`` at least ``n_fft`` samples
        lengths : ``(B,)`` int64 real samples at the start of each row (None: all real)
        """
        if waveform.dim() != 2 or waveform.shape[1] < self.n_fft:
            raise ValueError(f"waveform must be (batch, samples) with at least n_fft = {self.n_fft} samples "
                             f"(windows are zero-padded to full length), got {tuple(waveform.shape)}")
        lengths = self._lengths(waveform, lengths)
        positions = torch.arange(waveform.shape[1], device=waveform.device).unsqueeze(0)
        waveform = waveform * (positions < lengths.unsqueeze(1)).to(waveform.dtype)
        return torch.cat([
            self.tonality(waveform, lengths),
            self.periodicity(waveform, lengths),
            self.impulsiveness(waveform, lengths),
        ], -1)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Artifact logits ``(B,)`` of windows ``waveform (B, S)`` with ``lengths (B,)`` real samples."""
        z = (self.features(waveform, lengths) - self.feature_mean) / self.feature_std
        return self.head(z).squeeze(-1)

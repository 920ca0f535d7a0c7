"""Length masks: statistics over the real samples of a zero-padded window only.

A recording shorter than one window is zero-padded to the window length
(``windows.py``); the number of real samples travels with it as ``lengths``
(int64, ``(batch,)``). Models turn it into masks with these helpers so that
no statistic sees the padding: whatever fills the padding, the output is the
same. Every helper is plain tensor arithmetic (no data-dependent shapes), so
it exports to ONNX with the rest of the model.
"""

from __future__ import annotations

import torch


def full_lengths(waveform: torch.Tensor) -> torch.Tensor:
    """Lengths saying every sample of ``waveform (B, S)`` is real: ``(B,)`` int64."""
    return torch.full((waveform.shape[0],), waveform.shape[-1], dtype=torch.int64, device=waveform.device)


def check_lengths(waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``lengths`` as ``(B,)`` int64 on the waveform's device (None: all real).

    Raises ValueError for a wrong shape. Values are clamped to ``1 .. S``
    (tensor arithmetic only, so this also runs inside an exported graph).
    """
    if lengths is None:
        return full_lengths(waveform)
    if lengths.dim() != 1 or lengths.shape[0] != waveform.shape[0]:
        raise ValueError(f"lengths must have shape ({waveform.shape[0]},), got {tuple(lengths.shape)}")
    return lengths.to(device=waveform.device, dtype=torch.int64).clamp(1, waveform.shape[-1])


def sample_mask(lengths: torch.Tensor, n_samples: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(B, n_samples)``: 1 where the sample is real, 0 in the padding."""
    positions = torch.arange(n_samples, device=lengths.device)
    return (positions.unsqueeze(0) < lengths.unsqueeze(1)).to(dtype)


def frame_mask(lengths: torch.Tensor, n_frames: int, frame: int, hop: int,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(B, n_frames)``: 1 for frames ``[t * hop, t * hop + frame)`` lying wholly in the real samples.

    Frame 0 always counts, so a model sees at least one frame.
    """
    ends = torch.arange(n_frames, device=lengths.device) * hop + frame
    mask = ends.unsqueeze(0) <= lengths.unsqueeze(1)
    first = torch.zeros_like(mask)
    first[:, 0] = True
    return (mask | first).to(dtype)


def pooled_frame_mask(lengths: torch.Tensor, n_frames: int, n_samples: int,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(B, n_frames)``: 1 for the frames of a pooled map ``n_frames`` long that hold real samples.

    For maps whose frames evenly divide an input ``n_samples`` long (a CNN's
    time axis after poolings): frame ``t`` counts when it starts before
    ``lengths``, i.e. ``t < ceil(lengths * n_frames / n_samples)``. Frame 0
    always counts.
    """
    positions = torch.arange(n_frames, device=lengths.device).unsqueeze(0)
    real = torch.ceil(lengths.to(torch.float32).unsqueeze(1) * (n_frames / n_samples))
    return ((positions < real) | (positions == 0)).to(dtype)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (broadcastable to ``x``, same rank) is 1; 0 where none is."""
    mask = mask.to(x.dtype)
    total = (x * mask).sum(dim, keepdim=keepdim)
    count = mask.sum(dim, keepdim=keepdim)  # counted on the mask's own (broadcast) shape: cheap
    if mask.shape[dim] == 1 and x.shape[dim] != 1:
        count = count * x.shape[dim]
    return total / count.clamp(min=1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """Max of ``x`` over ``dim`` where ``mask`` (broadcastable to ``x``) is 1; -1e9 where none is."""
    return x.masked_fill(mask.expand_as(x) == 0, -1e9).amax(dim, keepdim=keepdim)


def masked_autocorrelation(signal: torch.Tensor, mask: torch.Tensor | None, max_lag: int,
                           eps: float) -> torch.Tensor:
    """Normalised autocorrelation at lags ``1 .. max_lag`` over the real part of each row.

    Parameters
    ----------
    signal
        ``(..., length)``.
    mask
        ``(..., length)`` (or broadcastable) with 1 for real values, a *prefix*
        of each row (as the padding of a short window is); None: all real.
    max_lag
        Largest lag, ``< length``.
    eps
        Added to the lag-0 power: rows that hardly vary give about 0.

    Returns
    -------
    torch.Tensor
        ``(..., max_lag)``: for each lag the mean product of the mean-removed
        signal over the pairs with both values real, over the mean power
        (+ ``eps``); 0 at lags with no such pair. Eagerly the products come
        from one FFT; under ONNX export from one product per lag (the same
        numbers: ONNX Runtime's DFT is slow).
    """
    length = signal.shape[-1]
    if mask is None:
        centred = signal - signal.mean(-1, keepdim=True)
        real = torch.full_like(signal[..., :1], float(length))
    else:
        mask = mask.to(signal.dtype).expand_as(signal)
        centred = (signal - masked_mean(signal, mask, -1, keepdim=True)) * mask
        real = mask.sum(-1, keepdim=True)
    power = centred.square().sum(-1, keepdim=True) / real.clamp(min=1.0)
    if torch.compiler.is_exporting():
        totals = torch.stack(
            [(centred[..., : length - lag] * centred[..., lag:]).sum(-1) for lag in range(1, max_lag + 1)], -1
        )
    else:
        size = 1 << (2 * length - 1).bit_length()
        spectrum = torch.fft.rfft(centred, n=size)
        totals = torch.fft.irfft(spectrum.real.square() + spectrum.imag.square(), n=size)[..., 1 : max_lag + 1]
    lags = torch.arange(1, max_lag + 1, device=signal.device, dtype=signal.dtype)
    pairs = (real - lags).clamp(min=1.0)  # a prefix of n real values has n - lag pairs at a lag
    return totals / pairs / (power + eps) * (real > lags).to(signal.dtype)

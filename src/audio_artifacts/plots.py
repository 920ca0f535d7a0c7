"""The scan picture: a 0-8 kHz spectrogram with the window probability under it.

One PNG per recording, like the prototype's figures (``seed/*.png``): the
spectrogram on top, the artifact probability of every window below on the
same time axis, the threshold as a dashed line, the flagged regions (the
result's ``events``) shaded on both, and the file name, verdict and
probability in the title.

The recording is read through :mod:`audio_artifacts.audio` (streaming) at
16 kHz, since only 0-8 kHz is shown, and power spectra of neighbouring frames
are averaged so that a picture never has more than ``max_columns`` columns:
memory and time stay bounded for recordings hours long.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so
plotting changes no global matplotlib state.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from audio_artifacts.results.schema import ScanResult

#: The picture shows 0 .. this frequency (Hz); audio is read at twice it.
MAX_FREQUENCY_HZ = 8000


@dataclasses.dataclass(frozen=True)
class Spectrogram:
    """Power spectrogram in dB, time-pooled for display.

    Attributes
    ----------
    db : np.ndarray
        float32, shape ``(frequencies, columns)``, 10·log10 power.
    frequencies_hz : np.ndarray
        Shape ``(frequencies,)``, 0 .. 8000 Hz.
    column_seconds : float
        Duration covered by one column (s).
    duration_s : float
        Length of the audio read (s).
    """

    db: np.ndarray
    frequencies_hz: np.ndarray
    column_seconds: float
    duration_s: float


def display_spectrogram(
    audio_path: str | os.PathLike[str],
    audio_config=None,
    *,
    n_fft: int = 512,
    max_columns: int = 2000,
) -> Spectrogram:
    """Stream a recording into a 0-8 kHz spectrogram of at most ``max_columns`` columns.

    Parameters
    ----------
    audio_path : path-like
        The recording.
    audio_config : audio.AudioConfig, optional
        Channel handling and block length; its sample rate is replaced by 16 kHz.
    n_fft : int
        FFT length in samples at 16 kHz (512: 31 Hz bins); the hop is ``n_fft // 2``.
    max_columns : int
        Upper bound on time columns; neighbouring frames are power-averaged to fit.

    Raises
    ------
    AudioLoadError
        When the recording cannot be read.
    """
    from audio_artifacts.audio import AudioConfig, read_info, stream_audio

    if n_fft < 16 or max_columns < 1:
        raise ValueError(f"n_fft must be >= 16 and max_columns >= 1, got {n_fft}, {max_columns}")
    rate = 2 * MAX_FREQUENCY_HZ
    config = dataclasses.replace(audio_config or AudioConfig(), sample_rate=rate)
    hop = n_fft // 2
    info = read_info(audio_path)
    expected_frames = max(1, math.ceil(info.duration_s * rate / hop))
    pool = max(1, math.ceil(expected_frames / max_columns))
    window = np.hanning(n_fft).astype(np.float32)

    columns: list[np.ndarray] = []
    pending = np.zeros((0, n_fft // 2 + 1), dtype=np.float32)  # frames not yet pooled
    carry = np.zeros(0, dtype=np.float32)  # samples not yet framed
    n_samples = 0
    for block in stream_audio(audio_path, config):
        n_samples += block.size
        carry = np.concatenate([carry, block])
        n_frames = (carry.size - n_fft) // hop + 1 if carry.size >= n_fft else 0
        if n_frames == 0:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(carry, n_fft)[::hop][:n_frames]
        power = (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2).astype(np.float32)
        carry = carry[n_frames * hop:]
        pending = np.concatenate([pending, power])
        full = (len(pending) // pool) * pool
        if full:
            columns.append(pending[:full].reshape(-1, pool, pending.shape[1]).mean(axis=1))
            pending = pending[full:]
    if not columns and len(pending) == 0:
        # Shorter than one FFT frame: one zero-padded frame.
        frame = np.zeros(n_fft, dtype=np.float32)
        frame[: carry.size] = carry
        pending = (np.abs(np.fft.rfft(frame * window)) ** 2)[None, :].astype(np.float32)
    if len(pending):
        columns.append(pending.mean(axis=0, keepdims=True))
    power = np.concatenate(columns).T  # (frequencies, columns)
    return Spectrogram(
        db=(10.0 * np.log10(power + 1e-12)).astype(np.float32),
        frequencies_hz=np.fft.rfftfreq(n_fft, 1.0 / rate),
        column_seconds=pool * hop / rate,
        duration_s=n_samples / rate,
    )


def plot_title(result: ScanResult) -> str:
    """``"<file name> — <verdict> (p = 0.931, threshold 0.500)"``."""
    title = (
        f"{Path(result.path).name} — {result.verdict} "
        f"(p = {result.probability:.3f}, threshold {result.threshold:.3f})"
    )
    if result.stimulus is not None and not result.stimulus.warning and not result.stimulus.silent:
        title += f" — residual after stimulus {Path(result.stimulus.file).name}"
    return title


def plot_scan(
    audio_path: str | os.PathLike[str],
    result: ScanResult,
    out_png: str | os.PathLike[str],
    audio_config=None,
    *,
    max_columns: int = 2000,
) -> Path:
    """Write the scan picture of one recording to a PNG.

    Parameters
    ----------
    audio_path : path-like
        The recording that ``result`` describes.
    result : ScanResult
        A successful result (``status == "ok"``) with its windows and events.
    out_png : path-like
        Destination; parent folders are created. The PNG's ``Title`` text
        chunk holds the figure title, ``Source`` the recording's path.
    audio_config : audio.AudioConfig, optional
        Channel handling (as the scan used it).
    max_columns : int
        Upper bound on spectrogram columns (bounds time and memory).

    Returns
    -------
    Path
        ``out_png``.

    Raises
    ------
    ValueError
        When ``result`` is an error result.
    AudioLoadError
        When the recording cannot be read.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not result.ok:
        raise ValueError(f"{result.path}: cannot plot an error result ({result.error})")
    spec = display_spectrogram(audio_path, audio_config, max_columns=max_columns)
    duration = result.duration_s or spec.duration_s

    figure = Figure(figsize=(12, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])

    vmax = float(np.percentile(spec.db, 99.5))
    # At most 70 dB of range, less when the picture has little (time-averaged noise),
    # so texture stays visible instead of one flat colour.
    vmin = max(vmax - 70.0, float(np.percentile(spec.db, 5)) - 10.0)
    extent = (0.0, spec.db.shape[1] * spec.column_seconds, 0.0, float(spec.frequencies_hz[-1]))
    image = top.imshow(
        spec.db, origin="lower", aspect="auto", extent=extent, cmap="viridis",
        vmin=vmin, vmax=vmax, interpolation="nearest",
    )
    figure.colorbar(image, ax=top, label="power (dB)", pad=0.01)
    top.set_ylim(0, MAX_FREQUENCY_HZ)
    top.set_ylabel("Frequency (Hz)")

    starts = np.array([w.start for w in result.windows])
    ends = np.array([w.end for w in result.windows])
    probs = np.array([w.probability for w in result.windows])
    few = len(probs) <= 200  # window extents and markers only while they can be told apart
    if few:
        bottom.hlines(probs, starts, ends, colors="tab:blue", alpha=0.35, linewidth=3)
    bottom.plot((starts + ends) / 2, probs, color="tab:blue", marker="o" if few else None,
                markersize=3, linewidth=1 if few else 0.8, label="window probability")
    bottom.axhline(result.threshold, color="tab:red", linestyle="--", linewidth=1,
                   label=f"threshold {result.threshold:.2f}")
    for event in result.events:
        # Outline only on the spectrogram, so the flagged audio stays readable.
        top.axvspan(event.start, event.end, facecolor=(1, 0, 0, 0.06), edgecolor="red", linewidth=1.5)
        bottom.axvspan(event.start, event.end, color="red", alpha=0.2)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("P(artifact)")
    bottom.set_xlabel("Time (s)")
    bottom.set_xlim(0, duration)
    bottom.legend(loc="upper right", fontsize="small")

    title = plot_title(result)
    figure.suptitle(title)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, format="png", metadata={"Title": title, "Source": str(result.path),
                                                    "Software": "audio-artifacts"})
    return out_png

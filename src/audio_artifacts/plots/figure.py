"""Draw the scan picture: spectrogram with every event labelled, window probability under it.

One PNG per recording: on top the spectrogram on the frequency axis chosen
from the findings (:mod:`.view`), in dBFS on a fixed colour scale; every
event outlined and labelled with its number, type, line frequencies, period
and level, its lines marked, its period ticked along the top edge; under it
the probability of each window on the same time axis with the threshold
dashed and the events shaded; the file name, verdict and probability in the
title.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so
plotting changes no global matplotlib state.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audio_artifacts.plots.spectrogram import Spectrogram, display_spectrogram, fft_length, pool_rows
from audio_artifacts.plots.view import FrequencyView, choose_frequency_view
from audio_artifacts.results.schema import Event, ScanResult

#: Colour limits of the spectrogram (dBFS per bin): the same for every picture.
DEFAULT_DBFS_RANGE = (-120.0, 0.0)
#: Display rows of the spectrogram.
_ROWS = 480
#: Period ticks are drawn while at most this many fit in the picture.
_MAX_PERIOD_TICKS = 300


def plot_title(result: ScanResult) -> str:
    """``"<file name> — <verdict> (p = 0.931, threshold 0.500)"``, and the stimulus the residual is after."""
    title = (
        f"{Path(result.path).name} — {result.verdict} "
        f"(p = {result.probability:.3f}, threshold {result.threshold:.3f})"
    )
    if result.stimulus is not None and not result.stimulus.warning and not result.stimulus.silent:
        title += f" — residual after stimulus {Path(result.stimulus.file).name}"
    return title


def _hz(value: float) -> str:
    return f"{value / 1000:.3g} kHz" if value >= 1000 else f"{value:.4g} Hz"


def event_label(number: int, event: Event) -> str:
    """``"1 tonal · 12 kHz · +23 dB"``: what the picture writes at an event (missing parts left out)."""
    parts = [f"{number} {event.type or 'artifact'}"]
    if event.frequencies_hz:
        shown = ", ".join(_hz(f) for f in event.frequencies_hz[:3])
        parts.append(shown + (" …" if len(event.frequencies_hz) > 3 else ""))
    if event.period_s is not None:
        parts.append(f"T = {event.period_s * 1000:.3g} ms" if event.period_s < 0.1 else f"T = {event.period_s:.3g} s")
    if event.level_db is not None:
        parts.append(f"{event.level_db:+.0f} dB")
    return " · ".join(parts)


def scan_figure(
    spec: Spectrogram,
    result: ScanResult,
    view: FrequencyView,
    *,
    dbfs_range: tuple[float, float] = DEFAULT_DBFS_RANGE,
):
    """The scan picture as a matplotlib ``Figure`` (Agg canvas), for saving or inspection.

    Parameters
    ----------
    spec : Spectrogram
        Of the recording, read up to at least ``view.high_hz`` where it can.
    result : ScanResult
        A successful result with its windows and events.
    view : FrequencyView
        The frequency axis.
    dbfs_range : (low, high)
        Colour limits in dBFS; levels under ``low`` (digital silence) are black.

    Returns
    -------
    matplotlib.figure.Figure
        Axes 0 is the spectrogram, axes 1 the probability; the event labels
        are texts with gid ``event-label``, line marks (arrows at both edges of
        the event) have gid ``event-lines``,
        period ticks ``event-period``.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    if not result.ok:
        raise ValueError(f"{result.path}: cannot plot an error result ({result.error})")
    duration = result.duration_s or spec.duration_s
    high = min(view.high_hz, float(spec.frequencies_hz[-1]))
    if view.scale == "log":
        edges = np.geomspace(view.low_hz, high, _ROWS + 1)
    else:
        edges = np.linspace(view.low_hz, high, min(_ROWS, len(spec.frequencies_hz)) + 1)
    rows = pool_rows(spec, edges)
    times = np.arange(rows.shape[1] + 1) * spec.column_seconds

    figure = Figure(figsize=(12, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    cmap = colormaps["magma"].with_extremes(under="black")
    mesh = top.pcolormesh(times, edges, rows, cmap=cmap, vmin=dbfs_range[0], vmax=dbfs_range[1],
                          shading="flat", rasterized=True)
    figure.colorbar(mesh, ax=top, label="level (dBFS per bin)", pad=0.01, extend="min")
    top.set_yscale(view.scale)
    top.set_ylim(view.low_hz, high)
    if view.scale == "log":
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        # 50, 100, 200, 500, 1k, 2k ... Hz rather than powers of ten
        top.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        top.yaxis.set_major_formatter(FuncFormatter(lambda f, _: f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"))
        top.yaxis.set_minor_formatter(NullFormatter())
    top.set_ylabel("Frequency (Hz)" + (", log" if view.scale == "log" else ""))

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

    along_top = blended_transform_factory(top.transData, top.transAxes)
    for number, event in enumerate(result.events, start=1):
        # Outline only on the spectrogram, so the flagged audio stays readable.
        top.axvspan(event.start, event.end, facecolor=(1, 1, 1, 0.04), edgecolor="cyan", linewidth=1.5)
        bottom.axvspan(event.start, event.end, color="red", alpha=0.2)
        top.text(event.start, 0.98 - 0.07 * ((number - 1) % 3), event_label(number, event),
                 transform=along_top, va="top", ha="left", fontsize="small", color="white", gid="event-label",
                 bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none", "pad": 1.5}, clip_on=True)
        lines = [f for f in event.frequencies_hz if view.low_hz <= f <= high]
        if lines:
            # Arrows at both edges of the event point at each line without covering it.
            for x, marker in ((event.start, ">"), (event.end, "<")):
                top.plot(np.full(len(lines), x), lines, linestyle="none", marker=marker, markersize=7,
                         color="cyan", markeredgecolor="black", markeredgewidth=0.5, gid="event-lines")
        if event.period_s is not None and (event.end - event.start) / event.period_s >= 1:
            ticks = np.arange(event.start, event.end + 1e-9, event.period_s)
            if duration / event.period_s <= _MAX_PERIOD_TICKS:
                top.plot(ticks, np.full(ticks.size, 0.0), transform=along_top, linestyle="none", marker="^",
                         markersize=6, color="cyan", clip_on=False, gid="event-period")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("P(artifact)")
    bottom.set_xlabel("Time (s)" + ("; ▲ period of an event" if any(
        e.period_s is not None and duration / e.period_s <= _MAX_PERIOD_TICKS for e in result.events) else ""))
    bottom.set_xlim(0, duration)
    bottom.legend(loc="upper right", fontsize="small")
    figure.suptitle(plot_title(result))
    return figure


def plot_scan(
    audio_path: str | os.PathLike[str],
    result: ScanResult,
    out_png: str | os.PathLike[str],
    audio_config=None,
    *,
    frequency_scale: str = "auto",
    dbfs_range: tuple[float, float] = DEFAULT_DBFS_RANGE,
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
    frequency_scale : {"auto", "log", "linear"}
        The frequency axis (see :func:`~audio_artifacts.plots.view.choose_frequency_view`).
    dbfs_range : (low, high)
        Colour limits in dBFS.
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
    from audio_artifacts.audio import read_info

    if not result.ok:
        raise ValueError(f"{result.path}: cannot plot an error result ({result.error})")
    nyquist = read_info(audio_path).sample_rate / 2
    view = choose_frequency_view(result.events, nyquist, frequency_scale)
    # Bins fine enough for the lowest row of a log axis, as the linear default otherwise.
    resolution = max(1.0, min(31.25, view.low_hz / 2)) if view.scale == "log" else max(31.25, view.high_hz / 256)
    rate = min(int(round(2 * view.high_hz)), int(2 * nyquist))
    spec = display_spectrogram(audio_path, audio_config, max_frequency_hz=view.high_hz,
                               n_fft=fft_length(rate, resolution), max_columns=max_columns)
    figure = scan_figure(spec, result, view, dbfs_range=dbfs_range)
    title = plot_title(result)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, format="png", metadata={"Title": title, "Source": str(result.path),
                                                    "Software": "audio-artifacts"})
    return out_png

"""The scan picture shows what was found: read back from the figure's own properties."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.plots import (
    DEFAULT_DBFS_RANGE, choose_frequency_view, display_spectrogram, plot_scan, scan_figure,
)
from audio_artifacts.plots.figure import event_label
from audio_artifacts.results.schema import Event, ScanResult

MODEL = {"name": "tiny", "version": "0.1"}
RATE = 48000


def recording(path, seconds=20.0):
    """Quiet noise, a 12 kHz whine 4-11 s, 80 Hz thumps every 0.8 s from 12 s, digital silence after 17 s."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.003 * np.random.default_rng(0).standard_normal(t.size)
    whine = (t > 4) & (t < 11)
    x[whine] += 0.02 * np.sin(2 * np.pi * 12000 * t[whine])
    n = int(0.03 * RATE)
    for start in np.arange(12.0, 17.0, 0.8):
        i = int(start * RATE)
        x[i:i + n] += 0.2 * np.sin(2 * np.pi * 80 * np.arange(n) / RATE) * np.hanning(n)
    x[t > 17] = 0.0
    return write_audio(path, x, RATE)


def result_for(path, events):
    windows = [{"start": s, "end": s + 5, "probability": p}
               for s, p in zip([0, 3.75, 7.5, 11.25, 15], [0.2, 0.9, 0.8, 0.95, 0.3])]
    result = ScanResult.from_windows(path, windows=windows, threshold=0.5, model=MODEL, duration_s=20,
                                     sample_rate=RATE, channels=1)
    return dataclasses.replace(result, events=tuple(events))


WHINE = Event(4, 11, 0.9, type="tonal", frequencies_hz=(12000,), level_db=25, band_hz=(11900, 12100))
THUMPS = Event(12, 17, 0.95, type="thumps", frequencies_hz=(80,), period_s=0.8, level_db=18, band_hz=(50, 150))


def figure_of(path, result, scale="auto"):
    view = choose_frequency_view(result.events, RATE / 2, scale)
    spec = display_spectrogram(path, max_frequency_hz=view.high_hz, resolution_hz=10)
    return scan_figure(spec, result, view), view


def by_gid(axes, gid):
    return [a for a in (*axes.texts, *axes.lines, *axes.collections) if a.get_gid() == gid]


def test_a_12khz_whine_and_80hz_thumps_are_both_on_the_axis(tmp_path):
    audio = recording(tmp_path / "unit1_whine.wav")
    figure, view = figure_of(audio, result_for(str(audio), [WHINE, THUMPS]))
    top = figure.axes[0]
    low, high = top.get_ylim()
    assert top.get_yscale() == "log" and view.scale == "log"  # something low was found
    assert low <= 40 and high >= 12000 * 1.2
    mesh = top.collections[0]
    assert mesh.get_clim() == DEFAULT_DBFS_RANGE
    labels = [t.get_text() for t in by_gid(top, "event-label")]
    assert labels[0].startswith("1 tonal") and "12 kHz" in labels[0]
    assert labels[1].startswith("2 thumps") and "80 Hz" in labels[1] and "T = 0.8 s" in labels[1]
    line_marks = by_gid(top, "event-lines")
    assert sorted({float(y) for mark in line_marks for y in mark.get_ydata()}) == [80.0, 12000.0]
    (ticks,) = by_gid(top, "event-period")
    np.testing.assert_allclose(ticks.get_xdata(), np.arange(12.0, 17.0, 0.8))


def test_levels_are_dbfs_on_a_fixed_scale_silence_dark_whine_bright(tmp_path):
    audio = recording(tmp_path / "levels.wav")
    result = result_for(str(audio), [WHINE])
    figure, _ = figure_of(audio, result, scale="linear")
    top = figure.axes[0]
    assert top.get_yscale() == "linear" and top.get_ylim()[1] >= 12000
    mesh = top.collections[0]
    values = np.asarray(mesh.get_array()).reshape(-1, mesh.get_coordinates().shape[1] - 1)
    rows = mesh.get_coordinates()[:, 0, 1]
    columns = mesh.get_coordinates()[0, :, 0]
    silence = values[:, columns[:-1] > 17.5]
    assert silence.max() < DEFAULT_DBFS_RANGE[0]  # under the scale: drawn black
    whine_row = np.argmin(np.abs((rows[:-1] + rows[1:]) / 2 - 12000))
    during = values[whine_row - 1:whine_row + 2, (columns[:-1] > 5) & (columns[:-1] < 10)].max(axis=0)
    assert during.min() == pytest.approx(20 * np.log10(0.02), abs=3)  # a -34 dBFS sine reads -34 dBFS
    cmap = mesh.get_cmap()
    assert tuple(cmap.get_under()[:3]) == (0.0, 0.0, 0.0)


def test_view_without_findings_and_forced_scales():
    plain = choose_frequency_view([Event(0, 5, 0.9)], 24000)
    assert (plain.low_hz, plain.high_hz, plain.scale) == (0.0, 8000.0, "linear")
    assert choose_frequency_view([], 4000).high_hz == 4000  # never past Nyquist
    low_linear = choose_frequency_view([THUMPS], 24000, "linear")
    assert low_linear.scale == "linear" and 500 <= low_linear.high_hz <= 1000  # 50-150 Hz fill the picture
    assert choose_frequency_view([WHINE], 24000, "log").scale == "log"
    with pytest.raises(ValueError, match="frequency scale"):
        choose_frequency_view([], 24000, "mel")


def test_old_rows_without_descriptions_still_plot(tmp_path):
    audio = recording(tmp_path / "old.wav")
    result = result_for(str(audio), [Event(4, 11, 0.9)])
    out = plot_scan(audio, result, tmp_path / "old.png")
    assert out.stat().st_size > 10_000
    assert event_label(1, result.events[0]) == "1 artifact"

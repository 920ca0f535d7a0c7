"""The scan picture: a spectrogram that shows what was found, with the window probability under it.

* :mod:`.view` chooses the frequency range and scale from the findings;
* :mod:`.spectrogram` streams a recording into a dBFS spectrogram for that view;
* :mod:`.figure` draws it with every event labelled (type, lines, period).
"""

from audio_artifacts.plots.figure import DEFAULT_DBFS_RANGE, plot_scan, plot_title, scan_figure
from audio_artifacts.plots.spectrogram import MAX_FREQUENCY_HZ, Spectrogram, display_spectrogram
from audio_artifacts.plots.view import FREQUENCY_SCALES, FrequencyView, choose_frequency_view

__all__ = [
    "DEFAULT_DBFS_RANGE", "FREQUENCY_SCALES", "MAX_FREQUENCY_HZ", "FrequencyView", "Spectrogram",
    "choose_frequency_view", "display_spectrogram", "plot_scan", "plot_title", "scan_figure",
]

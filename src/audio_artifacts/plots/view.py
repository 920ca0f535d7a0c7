"""Which frequencies a scan picture shows: chosen from what the events found.

A fixed 0-8 kHz picture hid a 12 kHz whine and squeezed 50-150 Hz ticks into
a few pixels at its bottom. The view therefore grows upwards to include
every reported line and band (up to the recording's Nyquist frequency), and
switches to a logarithmic axis when something low was found, so that
50 Hz and 12 kHz are both readable in one picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from audio_artifacts.results.schema import Event

#: ``auto`` (log when something under :data:`LOW_FINDING_HZ` was found), ``log`` or ``linear``.
FREQUENCY_SCALES = ("auto", "log", "linear")
#: The upper edge shown when nothing higher was found (Hz).
DEFAULT_HIGH_HZ = 8000.0
#: Findings below this make ``auto`` choose a log axis.
LOW_FINDING_HZ = 400.0
#: Lowest frequency of a log axis when nothing lower was found (Hz).
DEFAULT_LOG_LOW_HZ = 40.0


@dataclass(frozen=True)
class FrequencyView:
    """The frequency axis of a picture.

    Attributes
    ----------
    low_hz, high_hz : float
        Axis limits; ``low_hz`` is 0 on a linear axis.
    scale : {"log", "linear"}
    """

    low_hz: float
    high_hz: float
    scale: str

    def __post_init__(self) -> None:
        if self.scale not in ("log", "linear"):
            raise ValueError(f"scale must be 'log' or 'linear', got {self.scale!r}")
        if not 0 <= self.low_hz < self.high_hz or (self.scale == "log" and self.low_hz <= 0):
            raise ValueError(f"need 0 <= low < high (low > 0 on a log axis), got {self.low_hz}, {self.high_hz}")


def findings_hz(events: Iterable[Event]) -> list[float]:
    """Every reported line frequency and non-zero band edge of ``events`` (Hz)."""
    found: list[float] = []
    for event in events:
        found.extend(event.frequencies_hz)
        if event.band_hz is not None:
            found.extend(f for f in event.band_hz if f > 0)
    return sorted(found)


def _nice_ceiling(value: float) -> float:
    """The next of 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above ``value``."""
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * exponent >= value - 1e-9:
            return step * exponent
    return 10 * exponent


def choose_frequency_view(events: Iterable[Event], nyquist_hz: float, scale: str = "auto") -> FrequencyView:
    """The frequency axis that shows what ``events`` found.

    Parameters
    ----------
    events : iterable of Event
        The result's events; their ``frequencies_hz`` and ``band_hz`` decide
        (events without them leave the default 0-8 kHz).
    nyquist_hz : float
        Half the recording's sample rate: the highest frequency it holds.
    scale : {"auto", "log", "linear"}
        ``auto``: log when a finding lies below 400 Hz, else linear.

    Returns
    -------
    FrequencyView
        Up to 8 kHz, or 1.25 x the highest finding (rounded up) when that is
        higher, never above ``nyquist_hz``; a log axis starts at 40 Hz or half
        the lowest finding. A linear axis whose findings all lie under 1 kHz
        is zoomed to 4 x the highest of them (at least 1 kHz).
    """
    if scale not in FREQUENCY_SCALES:
        raise ValueError(f"frequency scale must be one of {FREQUENCY_SCALES}, got {scale!r}")
    if not nyquist_hz > 0:
        raise ValueError(f"nyquist_hz must be positive, got {nyquist_hz}")
    found = [f for f in findings_hz(events) if f <= nyquist_hz]
    if scale == "auto":
        scale = "log" if found and found[0] < LOW_FINDING_HZ else "linear"
    high = DEFAULT_HIGH_HZ
    if found and 1.25 * found[-1] > high:
        high = _nice_ceiling(1.25 * found[-1])
    if scale == "linear" and found and found[-1] < 1000:
        high = max(1000.0, _nice_ceiling(4 * found[-1]))
    high = min(high, nyquist_hz)
    if scale == "linear":
        return FrequencyView(0.0, high, "linear")
    low = DEFAULT_LOG_LOW_HZ if not found else max(10.0, min(DEFAULT_LOG_LOW_HZ, found[0] / 2))
    return FrequencyView(min(low, high / 10), high, "log")

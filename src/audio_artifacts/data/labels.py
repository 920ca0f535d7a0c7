"""The label of one window, from a recording's event intervals or its class.

The rule (used by training, evaluation and any report of window labels):

* A recording without interval labels (``entry.events is None``, e.g. the
  prototype's ``path;class`` CSV or a class folder): every window takes the
  recording's label.
* Otherwise a window ``[start_s, end_s)`` is an artifact window (1) when it
  overlaps some event by at least that event's *required overlap*, else 0:

  ``required = min(max(min_overlap_s, period_s), event duration)``

  - ``min_overlap_s`` (0.5 s by default) keeps a window that only grazes the
    start or end of a stationary event (a few ms of a tonal line at the
    window's edge) from counting as an artifact window: the model could not
    see it, and the label would be noise;
  - ``period_s`` (from ``event.params["period_s"]``, for periodic trains such
    as ticks or thumps every ~1 s, absent otherwise) raises the requirement to
    one full period, so every window labelled 1 surely holds at least one
    pulse of the train. A window that overlaps a 1 s tick train by 0.5 s may
    well hold no tick at all; with this rule it is labelled 0;
  - capping by the event's duration lets a short event (a 5 ms click) count
    when the window holds all of it. A zero-length event counts when its
    instant lies inside the window or on its edge.
"""

from __future__ import annotations

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry

DEFAULT_MIN_OVERLAP_S = 0.5


def required_overlap(event: ArtifactEvent, min_overlap_s: float = DEFAULT_MIN_OVERLAP_S) -> float:
    """Seconds of overlap with ``event`` that make a window an artifact window (see the module rule)."""
    period = float(event.params.get("period_s") or 0.0)
    return min(max(min_overlap_s, period), event.duration_s)


def event_in_window(
    event: ArtifactEvent, start_s: float, end_s: float, min_overlap_s: float = DEFAULT_MIN_OVERLAP_S
) -> bool:
    """True when the window ``[start_s, end_s)`` (seconds) holds enough of ``event``."""
    if event.duration_s == 0:
        return start_s <= event.start_s <= end_s  # closed: an instant at the recording's end still counts
    overlap = min(end_s, event.end_s) - max(start_s, event.start_s)
    # a tiny tolerance so an event exactly as long as the requirement, fully inside, counts despite round-off
    return overlap > 0 and overlap >= required_overlap(event, min_overlap_s) - 1e-9


def window_label(
    start_s: float, end_s: float, entry: RecordingEntry, min_overlap_s: float = DEFAULT_MIN_OVERLAP_S
) -> int:
    """Label (1 = artifact, 0 = no_artifact) of the window ``[start_s, end_s)`` of ``entry``.

    Parameters
    ----------
    start_s, end_s : float
        Window interval in seconds (``end_s`` = end of its real audio).
    entry : RecordingEntry
        The recording, with or without event intervals.
    min_overlap_s : float
        Minimum overlap in seconds with an event (see the module docstring), >= 0.

    Returns
    -------
    int
        From the events when the entry has them, else ``entry.label``.
    """
    if not end_s >= start_s:
        raise ValueError(f"window end_s ({end_s}) must be >= start_s ({start_s})")
    if not min_overlap_s >= 0:
        raise ValueError(f"min_overlap_s must be >= 0 seconds, got {min_overlap_s}")
    if entry.events is None:
        return int(entry.label)
    return int(any(event_in_window(e, start_s, end_s, min_overlap_s) for e in entry.events))

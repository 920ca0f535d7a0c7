"""Labelled data: manifests (CSV, class folders), window labels, datasets, augmentation.

Only the light, torch-free parts are re-exported here; ``data.dataset`` and
``data.augment`` are imported by the code that needs them.
"""

from audio_artifacts.data.labels import window_label
from audio_artifacts.data.manifest import (
    CLASSES,
    ArtifactEvent,
    RecordingEntry,
    load_entries,
    read_folder,
    read_manifest,
    write_manifest,
)

__all__ = [
    "CLASSES",
    "ArtifactEvent",
    "RecordingEntry",
    "load_entries",
    "read_folder",
    "read_manifest",
    "write_manifest",
    "window_label",
]

"""The test-box simulator: a hearing aid's own noise and response, test stimuli,
artifacts from physical mechanisms, and a dataset writer with exact labels.

Modules: ``device`` (the hearing aid), ``stimuli`` (inputs), ``sources``
(artifact waveforms), ``levels`` (floor and level measurement), ``artifacts``
(drawing artifacts at levels relative to a floor: ``sample_artifact`` is the
augmentation API), ``recording`` (one recording), ``dataset`` (files and
manifests). Nothing is imported here, so importing the package costs nothing.
"""

"""Inference: backends (PyTorch | ONNX Runtime), the `Detector`, ONNX export.

Import the submodules directly (``audio_artifacts.inference.detector``); this
package imports nothing at import time.
"""

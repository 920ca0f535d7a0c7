"""Fixtures shared by the CLI tests: the cheapest real model directory."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A small untrained FastArtifactNet saved as a real model directory (16 kHz, 5 s windows)."""
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model
    from audio_artifacts.windows import WindowSpec

    torch.manual_seed(7)
    # the cheapest configuration of the fast model: short FFT, no periodicity branches
    model = build_model("fast", sample_rate=16000, n_fft=512, hop=512, fmax=8000.0,
                        bands=[0, 1000, 3000, 8000], channels=4, hidden=8, periodicity=False).eval()
    info = ModelInfo(name="tiny-test", version="0.0.1", architecture="fast", arguments=model.arguments(),
                     sample_rate=16000, window=WindowSpec(), threshold=0.5, package_version=__version__)
    return save_model_dir(tmp_path_factory.mktemp("model") / "tiny", model, info)

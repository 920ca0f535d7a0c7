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


def _same(x: object, y: object) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y))
    if isinstance(x, float) or isinstance(y, float):
        return x == pytest.approx(y, rel=1e-6, abs=1e-9)
    return x == y


@pytest.fixture
def same_rows():
    """Equal field by field; probabilities to 1e-6 (batches differ between runs and engines, so may the
    last bits)."""
    return _same


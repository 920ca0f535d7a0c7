"""The residual model: the detector a stimulus-aware scan runs on residuals.

A model directory may hold a second, complete model directory under
``residual/`` (`models.model_dir.RESIDUAL_DIR`): the same model fine-tuned on
residuals (what the played stimulus does not explain, `inference.stimulus`),
with its own threshold and temperature chosen on validation residuals
(``configs/stimulus_aware.yaml``). Without one, the main model judges the
residual too.

Its logits are put on the main model's scale before they reach the stimulus
rule: ``l' = T_main * (l / T_res - logit(threshold_res) + logit(threshold_main))``,
so ``sigmoid(l' / T_main) >= threshold_main`` exactly when the residual
model's own calibrated probability reaches its own threshold. The rule
``min(recording, residual) >= threshold`` then means: the main model flags
the recording and the residual model flags the residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.errors import ModelDirError
from audio_artifacts.inference.backends import Backend, open_backend

__all__ = ["ResidualModel", "open_residual_model"]

_EDGE = 1e-6  # thresholds of exactly 0 or 1 would put the shift at infinity


def _logit(p: float) -> float:
    p = min(max(float(p), _EDGE), 1.0 - _EDGE)
    return math.log(p / (1.0 - p))


@dataclass
class ResidualModel:
    """A loaded residual model and the map of its logits onto the main model's scale."""

    directory: Path
    backend: Backend
    temperature: float
    threshold: float
    main_temperature: float
    main_threshold: float

    def logits(self, samples: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Logits of residual windows on the main model's scale (see the module's docstring)."""
        raw = np.asarray(self.backend.logits(samples, lengths), dtype=np.float64)
        shift = _logit(self.main_threshold) - _logit(self.threshold)
        return self.main_temperature * (raw / self.temperature + shift)


def open_residual_model(model_dir: Path, main_info, kind: str = "auto", threads: int | None = None,
                        device: str = "cpu") -> ResidualModel | None:
    """The residual model of ``model_dir`` (None when it has no ``residual/``).

    Raises
    ------
    ModelDirError
        The residual model is unreadable, or its rate or window differ from
        the main model's (its windows must be the recording's windows).
    """
    from audio_artifacts.models.model_dir import RESIDUAL_DIR, read_model_info

    directory = Path(model_dir) / RESIDUAL_DIR
    if not directory.is_dir():
        return None
    info = read_model_info(directory)
    if info.sample_rate != main_info.sample_rate or info.window != main_info.window:
        raise ModelDirError(
            f"{directory}: the residual model must share the main model's rate and window "
            f"({main_info.sample_rate} Hz, {main_info.window.duration_s:g} s at {main_info.window.overlap:g}); "
            f"it has {info.sample_rate} Hz, {info.window.duration_s:g} s at {info.window.overlap:g}")
    backend = open_backend(directory, kind, threads=threads, device=device)
    return ResidualModel(directory, backend, float(info.temperature), float(info.threshold),
                         float(main_info.temperature), float(main_info.threshold))

"""The type head: measured features -> probability of each artifact kind (multi-label).

A small one-hidden-layer network (or, with ``hidden=0``, one logistic
regression per kind) on standardised :data:`~audio_artifacts.explain.measure.FEATURE_NAMES`,
sigmoid outputs because several kinds may sound in one event. It is stored
as ``type_head.json`` in a model directory: plain numbers, no pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.errors import ModelDirError

TYPE_HEAD_FILE = "type_head.json"
#: The head that also reads the detector's own embedding of the event's windows (``inference.describe``).
DETECTOR_TYPE_HEAD_FILE = "type_head_detector.json"
FORMAT = "audio-artifacts/type-head/1"


@dataclass(frozen=True)
class TypeHead:
    """Standardisation, weights and the names of inputs and outputs."""

    feature_names: tuple[str, ...]
    type_names: tuple[str, ...]
    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    hidden_weights: np.ndarray  # (features, hidden); empty (features, 0) for plain logistic regression
    hidden_bias: np.ndarray  # (hidden,)
    weights: np.ndarray  # (hidden or features, types)
    bias: np.ndarray  # (types,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """``(n, types)`` probabilities for ``(n, features)`` (or one ``(features,)`` vector -> ``(types,)``)."""
        x = np.asarray(features, dtype=np.float64)
        single = x.ndim == 1
        z = _forward(self._params(), (np.atleast_2d(x) - self.mean) / self.scale, self.hidden_weights.shape[1])
        p = 1.0 / (1.0 + np.exp(-z))
        return p[0] if single else p

    def _params(self) -> np.ndarray:
        return np.concatenate([self.hidden_weights.ravel(), self.hidden_bias, self.weights.ravel(), self.bias])

    def save(self, directory: str | os.PathLike[str], filename: str = TYPE_HEAD_FILE) -> Path:
        """Write ``filename`` (``type_head.json``) into ``directory``; returns its path."""
        path = Path(directory) / filename
        data = {
            "format": FORMAT, "feature_names": list(self.feature_names), "type_names": list(self.type_names),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "hidden_weights": self.hidden_weights.tolist(), "hidden_bias": self.hidden_bias.tolist(),
            "weights": self.weights.tolist(), "bias": self.bias.tolist(),
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        return path


def load_type_head(directory: str | os.PathLike[str], feature_names: Sequence[str],
                   filename: str = TYPE_HEAD_FILE) -> TypeHead | None:
    """The type head ``filename`` of a model directory, or None when it has none.

    Raises
    ------
    ModelDirError
        When ``type_head.json`` is unreadable or was fitted on other features.
    """
    path = Path(directory) / filename
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        head = TypeHead(
            tuple(data["feature_names"]), tuple(data["type_names"]),
            np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["hidden_weights"], dtype=np.float64).reshape(len(data["feature_names"]), -1),
            np.asarray(data["hidden_bias"], dtype=np.float64),
            np.asarray(data["weights"], dtype=np.float64), np.asarray(data["bias"], dtype=np.float64),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{path}: cannot be read: {exc}") from None
    if head.feature_names != tuple(feature_names):
        raise ModelDirError(f"{path}: was fitted on other features than this version "
                                       "measures; refit it (scripts/fit_type_head.py)")
    return head


def fit_type_head(features: np.ndarray, labels: np.ndarray, feature_names: Sequence[str],
                  type_names: Sequence[str], *, hidden: int = 32, l2: float = 1e-3, seed: int = 0,
                  max_iter: int = 800) -> TypeHead:
    """Fit the head by L-BFGS on the mean binary cross-entropy plus ``l2`` times the squared weights.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, features)``.
    labels : numpy.ndarray
        ``(n, types)`` 0/1: which kinds sound in each event.
    hidden : int
        Hidden units (tanh); 0 fits one logistic regression per kind.
    seed : int
        Initial weights (the fit is deterministic for a seed).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0], len(type_names)) or x.shape[1] != len(feature_names):
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match "
                         f"{len(feature_names)} features x {len(type_names)} types")
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    xs = (x - mean) / scale
    d, t = x.shape[1], y.shape[1]
    rng = np.random.default_rng(seed)
    inner = d if hidden == 0 else hidden
    start = np.concatenate([rng.normal(0, 1 / np.sqrt(d), d * hidden), np.zeros(hidden),
                            rng.normal(0, 1 / np.sqrt(inner), inner * t), np.zeros(t)])

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z, backward = _forward_with_grad(params, xs, hidden, d, t)
        p = 1.0 / (1.0 + np.exp(-z))
        value = np.mean(np.logaddexp(0.0, z) - y * z)
        grad = backward((p - y) / y.size)
        weights = _weight_mask(d, hidden, t)
        return value + l2 * np.sum((params * weights) ** 2), grad + 2 * l2 * params * weights

    from scipy.optimize import minimize  # fitting only: a scan that applies a head does not import it

    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    wh, bh, w, b = _unpack(result.x, d, hidden, t)
    return TypeHead(tuple(feature_names), tuple(type_names), mean, scale, wh, bh, w, b)


def _unpack(params: np.ndarray, d: int, hidden: int, t: int):
    inner = d if hidden == 0 else hidden
    sizes = np.cumsum([d * hidden, hidden, inner * t])
    wh, bh, w, b = np.split(params, sizes)
    return wh.reshape(d, hidden), bh, w.reshape(inner, t), b


def _weight_mask(d: int, hidden: int, t: int) -> np.ndarray:
    inner = d if hidden == 0 else hidden
    return np.concatenate([np.ones(d * hidden), np.zeros(hidden), np.ones(inner * t), np.zeros(t)])


def _forward(params: np.ndarray, xs: np.ndarray, hidden: int) -> np.ndarray:
    d = xs.shape[1]
    t = (params.size - d * hidden - hidden) // ((d if hidden == 0 else hidden) + 1)
    wh, bh, w, b = _unpack(params, d, hidden, t)
    inner = xs if hidden == 0 else np.tanh(xs @ wh + bh)
    return inner @ w + b


def _forward_with_grad(params: np.ndarray, xs: np.ndarray, hidden: int, d: int, t: int):
    wh, bh, w, b = _unpack(params, d, hidden, t)
    inner = xs if hidden == 0 else np.tanh(xs @ wh + bh)
    z = inner @ w + b

    def backward(dz: np.ndarray) -> np.ndarray:
        dw, db = inner.T @ dz, dz.sum(axis=0)
        if hidden == 0:
            return np.concatenate([np.zeros(0), np.zeros(0), dw.ravel(), db])
        da = (dz @ w.T) * (1.0 - inner**2)
        return np.concatenate([(xs.T @ da).ravel(), da.sum(axis=0), dw.ravel(), db])

    return z, backward

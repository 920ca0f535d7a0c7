"""Load official PANNs checkpoints (and our own state dicts) into our backbones.

An official checkpoint (Zenodo record 3987831) is a pickle holding
``{"model": state_dict, ...}``. It is read with ``weights_only=True``, so no
pickled code can run. Besides the network weights it stores PANNs'
convolution STFT basis and mel matrix; our front end computes the same
numbers by FFT, so those three tensors are *checked* against our front end
(a checkpoint made for another sample rate, window or mel layout fails
here) and then consumed. Everything else must match the model exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audio_artifacts.errors import CheckpointError
from audio_artifacts.features import LogMel

STFT_REAL_KEY = "spectrogram_extractor.stft.conv_real.weight"
STFT_IMAG_KEY = "spectrogram_extractor.stft.conv_imag.weight"
MEL_KEY = "logmel_extractor.melW"
FRONT_END_KEYS = (STFT_REAL_KEY, STFT_IMAG_KEY, MEL_KEY)

STFT_TOLERANCE = 1e-5
"""Max abs difference allowed in the DFT basis (entries are at most 1)."""
MEL_RELATIVE_TOLERANCE = 1e-4
"""Max abs difference in the mel matrix, relative to its largest entry."""
MAX_LISTED_KEYS = 8


def dft_basis(window: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The conv-STFT basis PANNs stores, for a window of ``n_fft`` samples.

    Returns
    -------
    real, imag
        Each ``(n_fft // 2 + 1, 1, n_fft)`` float64:
        ``window[n] * cos(2 pi k n / n_fft)`` and ``-window[n] * sin(...)``.
    """
    w = window.detach().double().cpu().numpy()
    n_fft = w.size
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    # (k * n) mod n_fft keeps the phase argument small and exact.
    phase = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    return (np.cos(phase) * w)[:, None, :], (-np.sin(phase) * w)[:, None, :]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint file, never executing pickled code.

    Accepts an official PANNs checkpoint (``{"model": state_dict}``), a plain
    state dict saved with ``torch.save``, or a ``.safetensors`` file.

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, not a weights-only pickle, or holds
        no mapping of names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            content: object = load_file(str(path), device="cpu")
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any reader failure is a bad checkpoint file
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({type(error).__name__}: {error})"
        ) from error
    if isinstance(content, Mapping) and isinstance(content.get("model"), Mapping):
        content = content["model"]
    if not isinstance(content, Mapping) or not content:
        raise CheckpointError(
            f"{path}: expected a state dict or a dict with a 'model' state dict, "
            f"got {type(content).__name__}"
        )
    not_tensors = [k for k, v in content.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries that are not tensors: {listing(not_tensors)}")
    return dict(content)


def network_weights(path: Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without its front-end tensors, after checking them against ``model.logmel``.

    Raises
    ------
    CheckpointError
        ``model`` has no `LogMel` front end; the checkpoint's STFT basis or
        mel matrix is incomplete or made for another front end.
    """
    front_end = getattr(model, "logmel", None)
    if not isinstance(front_end, LogMel):
        raise CheckpointError(f"{path}: {type(model).__name__} has no PANNs log-mel front end")
    present = [key for key in FRONT_END_KEYS if key in state]
    if present:
        if len(present) != len(FRONT_END_KEYS):
            missing = sorted(set(FRONT_END_KEYS) - set(present))
            raise CheckpointError(f"{path}: incomplete front end, missing {listing(missing)}")
        _check_front_end(path, front_end, state)
    return {k: v for k, v in state.items() if k not in FRONT_END_KEYS}


def load_panns_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a PANNs checkpoint into ``model`` strictly; returns ``model``.

    Parameters
    ----------
    model
        A `Cnn14`, `ResNet54` or `WavegramLogmelCnn14` (anything with a
        ``logmel`` `LogMel` front end and PANNs-named weights).
    path
        Official ``.pth`` checkpoint, a plain state-dict file, or ``.safetensors``.

    Raises
    ------
    CheckpointError
        Unreadable file; stored STFT basis or mel matrix that does not match
        the model's front end; missing, unexpected or mis-shaped keys (listed).
    """
    path = Path(path)
    weights = network_weights(path, model, read_state_dict(path))
    problems = fit_problems(model.state_dict(), weights)
    if problems:
        raise CheckpointError(
            f"{path}: checkpoint does not fit {type(model).__name__} "
            f"(wrong architecture?); " + "; ".join(problems)
        )
    model.load_state_dict(weights, strict=True)
    return model


def fit_problems(expected: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor],
                 unexpected: bool = True) -> list[str]:
    """Why ``weights`` do not fit a model's ``expected`` state dict (empty: they fit).

    ``"N missing: ..."``, ``"N unexpected: ..."`` (unless ``unexpected`` is
    False: extra checkpoint keys allowed) and ``"N mis-shaped: key (checkpoint
    [...], model [...]) ..."``, each listing the first keys.
    """
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected] if unexpected else []
    misshaped = [
        f"{k} (checkpoint {list(weights[k].shape)}, model {list(expected[k].shape)})"
        for k in expected
        if k in weights and weights[k].shape != expected[k].shape
    ]
    problems = []
    for count, label, keys in ((len(missing), "missing", missing), (len(extra), "unexpected", extra),
                               (len(misshaped), "mis-shaped", misshaped)):
        if count:
            problems.append(f"{count} {label}: {listing(keys)}")
    return problems


def _check_front_end(path: Path, front_end: LogMel, state: Mapping[str, torch.Tensor]) -> None:
    real, imag = dft_basis(front_end.spectrogram.window)
    for key, expected in ((STFT_REAL_KEY, real), (STFT_IMAG_KEY, imag)):
        stored = state[key]
        if tuple(stored.shape) != expected.shape:
            raise CheckpointError(
                f"{path}: {key} has shape {list(stored.shape)} but the model's front end "
                f"needs {list(expected.shape)} (a checkpoint for another window size?)"
            )
        error = float(np.max(np.abs(stored.double().numpy() - expected)))
        if not error <= STFT_TOLERANCE:
            raise CheckpointError(
                f"{path}: {key} is not the Hann-windowed DFT basis of the model's front end "
                f"(max difference {error:.3g}); the checkpoint uses another STFT window"
            )
    mel = front_end.melW.detach().double().cpu().numpy()
    stored = state[MEL_KEY]
    if tuple(stored.shape) != mel.shape:
        raise CheckpointError(
            f"{path}: {MEL_KEY} has shape {list(stored.shape)} but the model's mel matrix is "
            f"{list(mel.shape)} (a checkpoint for another window size or number of mel bins?)"
        )
    error = float(np.max(np.abs(stored.double().numpy() - mel)))
    limit = MEL_RELATIVE_TOLERANCE * float(np.max(np.abs(mel)))
    if not (math.isfinite(error) and error <= limit):
        raise CheckpointError(
            f"{path}: {MEL_KEY} differs from the model's mel matrix (max difference "
            f"{error:.3g}, allowed {limit:.3g}); the checkpoint was made for another sample "
            "rate, fmin or fmax"
        )


def listing(keys: list[str]) -> str:
    """The first keys, comma-separated, and how many more."""
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return shown + (f", ... and {more} more" if more > 0 else "")

"""Inference backends: one call, ``logits(batch, lengths) -> (B,)``, over PyTorch or ONNX Runtime.

A backend turns a batch of model-rate windows into artifact logits; it knows
nothing about files, windows or thresholds (that is the `Detector`'s job).
``lengths`` counts the real samples at the start of each row (the rest is a
short recording's zero padding, which the model must not see).
Both backends release the GIL while they compute, so a reader thread can
decode and resample the next block meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from audio_artifacts.errors import ModelDirError

ONNX_FILE = "model.onnx"
INPUT_NAME = "waveform"
LENGTHS_NAME = "lengths"
OUTPUT_NAME = "logits"
BACKEND_KINDS = ("auto", "torch", "onnx")

# Architectures that run faster in PyTorch than in ONNX Runtime on CPU, so
# "auto" keeps them in torch even when the directory has model.onnx. Measured
# on the 2-core project machine, one thread per call (docs/scan.md):
#   fast:                  torch ~2.7 ms CPU per window, ORT ~8 ms (its
#                          spectrum is an FFT in torch, matrix products in ORT);
#                          whole scan 722x vs 357x real time per CPU second
#   cnn14, wavegram_logmel_cnn14: ORT ~25 % less CPU per window than torch
TORCH_PREFERRED = frozenset({"fast", "dsp_baseline"})


@runtime_checkable
class Backend(Protocol):
    """Anything that maps a batch of windows to artifact logits."""

    name: str

    def logits(self, batch: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Artifact logits of a batch.

        Parameters
        ----------
        batch : np.ndarray
            float32, shape ``(B, samples)``, mono waveforms at the model rate.
        lengths : np.ndarray, optional
            int64, shape ``(B,)``: real samples at the start of each row (None: all).

        Returns
        -------
        np.ndarray
            float32, shape ``(B,)``, artifact log-odds.
        """
        ...


def _check_batch(batch: np.ndarray, lengths: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if batch.ndim != 2:
        raise ValueError(f"batch must have shape (B, samples), got {batch.shape}")
    if lengths is None:
        lengths = np.full(batch.shape[0], batch.shape[1], dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64).reshape(-1)
    if lengths.shape[0] != batch.shape[0] or (lengths.size and (lengths.min() < 1 or lengths.max() > batch.shape[1])):
        raise ValueError(f"lengths must be {batch.shape[0]} values in 1..{batch.shape[1]}, got {lengths.tolist()}")
    return np.ascontiguousarray(batch, dtype=np.float32), lengths


class TorchBackend:
    """Run an ``nn.Module`` (``(B, samples) -> (B,)`` logits) under ``torch.inference_mode``.

    Parameters
    ----------
    model : torch.nn.Module
        A registry model; put into eval mode here.
    threads : int, optional
        Intra-op threads for torch. Torch has one pool per process, so this
        sets it for the whole process (``torch.set_num_threads``); None keeps
        the current setting.
    device : str
        Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``); batches
        are moved there and logits back.
    """

    name = "torch"

    def __init__(self, model, threads: int | None = None, device: str = "cpu") -> None:
        import torch

        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)

    def logits(self, batch: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        batch, lengths = _check_batch(batch, lengths)
        torch = self._torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(batch).to(self.device), torch.from_numpy(lengths).to(self.device))
        out = out.detach().float().reshape(-1).cpu().numpy()
        if out.shape[0] != batch.shape[0]:
            raise ValueError(f"model returned {out.shape[0]} logits for a batch of {batch.shape[0]}")
        return out

    @property
    def embedding_size(self) -> int | None:
        """Width of the model's embedding (``embedding()`` feeding a ``head``), None when it has none."""
        head = getattr(self.model, "head", None)
        if not hasattr(self.model, "embedding") or head is None:
            return None
        first = next((m for m in head.modules() if hasattr(m, "in_features")), None)
        return None if first is None else int(first.in_features)

    def embedding(self, batch: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (B, F), logits (B,))`` of a model with ``embedding()`` and ``head``."""
        batch, lengths = _check_batch(batch, lengths)
        torch = self._torch
        with torch.inference_mode():
            features = self.model.embedding(torch.from_numpy(batch).to(self.device),
                                            torch.from_numpy(lengths).to(self.device))
            logits = self.model.head(features).reshape(-1)
        return features.float().cpu().numpy(), logits.float().cpu().numpy()


class OnnxBackend:
    """Run an exported ``model.onnx`` with ONNX Runtime's CPU execution provider.

    Parameters
    ----------
    path : str or Path
        ONNX file with inputs ``waveform`` ``(B, samples)`` float32 and
        ``lengths`` ``(B,)`` int64 (dynamic B) and one output ``logits``
        ``(B,)``. A file with the single input ``waveform`` (exported before
        lengths existed) still runs; its model sees a short recording's padding.
    threads : int, optional
        ``intra_op_num_threads`` of the session; None lets ORT choose (all cores).
    """

    name = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelDirError(f"{path}: ONNX model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise ModelDirError(f"{path}: ONNX Runtime cannot load the model: {exc}") from exc
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs not in ([INPUT_NAME, LENGTHS_NAME], [INPUT_NAME]):
            raise ModelDirError(
                f"{path}: expected inputs '{INPUT_NAME}' and '{LENGTHS_NAME}', found {inputs}"
            )
        self.takes_lengths = LENGTHS_NAME in inputs
        self.path = path

    def logits(self, batch: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        batch, lengths = _check_batch(batch, lengths)
        feed = {INPUT_NAME: batch, LENGTHS_NAME: lengths} if self.takes_lengths else {INPUT_NAME: batch}
        (out,) = self.session.run(None, feed)[:1]
        out = np.asarray(out, dtype=np.float32).reshape(-1)
        if out.shape[0] != batch.shape[0]:
            raise ValueError(f"model returned {out.shape[0]} logits for a batch of {batch.shape[0]}")
        return out


def resolve_kind(model_dir: str | Path, kind: str = "auto") -> str:
    """Which backend ``open_backend`` uses for ``model_dir``: ``"torch"`` or ``"onnx"``.

    ``"auto"`` picks ONNX Runtime when the directory holds ``model.onnx`` and
    its architecture is not one of `TORCH_PREFERRED`; PyTorch otherwise.
    """
    if kind not in BACKEND_KINDS:
        raise ValueError(f"backend must be one of {BACKEND_KINDS}, got {kind!r}")
    if kind != "auto":
        return kind
    if not (Path(model_dir) / ONNX_FILE).is_file():
        return "torch"
    from audio_artifacts.models.model_dir import read_model_info

    return "torch" if read_model_info(model_dir).architecture in TORCH_PREFERRED else "onnx"


def open_backend(model_dir: str | Path, kind: str = "auto", threads: int | None = None,
                 device: str = "cpu") -> Backend:
    """Open the backend of a model directory.

    Parameters
    ----------
    model_dir : str or Path
        A directory written by ``models.model_dir.save_model_dir``.
    kind : {"auto", "torch", "onnx"}
        ``"onnx"`` needs ``model.onnx`` in the directory (see ``audio-artifacts export``).
    threads : int, optional
        Compute threads of the backend.
    device : str
        Torch device of the model (``"cuda"`` on a GPU worker); a model
        directory with ``model.onnx`` then runs in PyTorch, whatever ``kind``
        ``"auto"`` would pick (the ONNX backend is CPU only).
    """
    model_dir = Path(model_dir)
    chosen = "torch" if device != "cpu" and kind == "auto" else resolve_kind(model_dir, kind)
    if chosen == "onnx" and device != "cpu":
        raise ModelDirError(f"{model_dir}: the ONNX backend runs on the CPU only; use --backend torch "
                            f"on GPU workers")
    if chosen == "onnx":
        onnx_path = model_dir / ONNX_FILE
        if not onnx_path.is_file():
            raise ModelDirError(
                f"{model_dir}: no {ONNX_FILE}; export one with "
                f"'audio-artifacts export {model_dir} --onnx {onnx_path}'"
            )
        return OnnxBackend(onnx_path, threads=threads)
    from audio_artifacts.models.model_dir import load_model_dir

    model, _ = load_model_dir(model_dir)
    return TorchBackend(model, threads=threads, device=device)

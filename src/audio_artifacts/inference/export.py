"""Export a model directory to ONNX and prove the export agrees with PyTorch.

The graph has two inputs, ``waveform`` ``(batch, samples)`` float32 and
``lengths`` ``(batch,)`` int64 (real samples at the start of each row), with a
dynamic batch axis, and one output ``logits`` ``(batch,)``. It is written by
the dynamo exporter (``torch.export`` + onnxscript), then run in ONNX Runtime
on random and realistic windows next to the PyTorch model; an export whose
logits or probabilities differ by more than the tolerances raises
`ExportError`, so a bad ``model.onnx`` never ships.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.errors import ExportError
from audio_artifacts.inference.backends import INPUT_NAME, LENGTHS_NAME, ONNX_FILE, OUTPUT_NAME, OnnxBackend
from audio_artifacts.inference.detector import sigmoid


@dataclass(frozen=True)
class ParityReport:
    """How closely ONNX Runtime reproduces PyTorch on the check inputs.

    Attributes
    ----------
    onnx_path : str
        Where the ONNX file was written.
    opset : int
        ONNX opset of the graph.
    optimized : bool
        Whether onnxscript's graph optimiser was applied (False when the
        optimised graph failed the parity check and the plain one passed).
    n_inputs : int
        Number of windows compared (random, realistic and silent ones).
    window_samples : int
        Samples per window (the model's window at its rate).
    max_abs_logit_diff, max_abs_probability_diff : float
        Largest absolute differences between the two runtimes.
    logit_tolerance, probability_tolerance : float
        The limits the differences were checked against.
    export_seconds : float
        Wall time of the export itself.
    size_bytes : int
        Size of the ONNX file (with external data, if any).
    """

    onnx_path: str
    opset: int
    optimized: bool
    n_inputs: int
    window_samples: int
    max_abs_logit_diff: float
    max_abs_probability_diff: float
    logit_tolerance: float
    probability_tolerance: float
    export_seconds: float
    size_bytes: int

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)

    def summary(self) -> str:
        """Readable lines for the terminal."""
        return "\n".join(
            [
                f"ONNX file        {self.onnx_path} ({self.size_bytes / 1e6:.1f} MB, opset {self.opset}, "
                f"{'optimised' if self.optimized else 'plain'} graph)",
                f"export time      {self.export_seconds:.1f} s",
                f"parity inputs    {self.n_inputs} windows of {self.window_samples} samples",
                f"max |logit diff| {self.max_abs_logit_diff:.3e} (tolerance {self.logit_tolerance:.0e})",
                f"max |prob diff|  {self.max_abs_probability_diff:.3e} (tolerance {self.probability_tolerance:.0e})",
            ]
        )


def parity_inputs(window_samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Deterministic check windows: white noise, realistic test-box audio, silence.

    The realistic ones are a low, coloured noise floor (about -60 dBFS) with a
    stationary tone and periodic clicks, at a few levels, like recordings of a
    hearing aid in a test box with and without an artifact.

    Returns
    -------
    np.ndarray
        float32, shape ``(8, window_samples)``, values in [-1, 1].
    """
    rng = np.random.default_rng(seed)
    t = np.arange(window_samples) / sample_rate
    rows = [rng.uniform(-1.0, 1.0, window_samples), 0.1 * rng.standard_normal(window_samples)]
    for level_db, tone_hz, tick_s in [(-60, 0.0, 0.0), (-50, 3000.0, 0.0), (-55, 2200.0, 0.5), (-40, 0.0, 0.7)]:
        white = rng.standard_normal(window_samples)
        floor = np.cumsum(white) * 0.02 + white  # coloured (low-frequency heavy) noise
        floor -= floor.mean()
        floor *= 10 ** (level_db / 20) / (np.std(floor) + 1e-12)
        signal = floor
        if tone_hz:
            signal = signal + 10 ** ((level_db + 15) / 20) * np.sin(2 * np.pi * tone_hz * t)
        if tick_s:
            ticks = np.zeros(window_samples)
            ticks[:: int(tick_s * sample_rate)] = 10 ** ((level_db + 30) / 20)
            signal = signal + ticks
        rows.append(signal)
    rows.append(np.zeros(window_samples))
    rows.append(np.full(window_samples, 1e-4) * np.sign(np.sin(2 * np.pi * 50 * t)))
    return np.clip(np.stack(rows), -1.0, 1.0).astype(np.float32)


def export_onnx(
    model_dir: str | Path,
    out_path: str | Path,
    opset: int = 18,
    logit_tolerance: float = 1e-2,
    probability_tolerance: float = 1e-3,
) -> ParityReport:
    """Export ``model_dir``'s model to ``out_path`` and check it against PyTorch.

    Parameters
    ----------
    model_dir : str or Path
        A model directory (``models.model_dir``).
    out_path : str or Path
        The ONNX file to write (parent directories are created).
    opset : int
        ONNX opset (>= 17 for the ``DFT`` op of the FFT front ends).
    logit_tolerance, probability_tolerance : float
        Largest accepted absolute differences between ONNX Runtime and PyTorch.

    Returns
    -------
    ParityReport

    Raises
    ------
    ExportError
        The exporter failed, or ONNX Runtime disagrees with PyTorch beyond the tolerances.
    """
    from audio_artifacts.models.model_dir import load_model_dir

    if opset < 17:
        raise ValueError(f"opset must be >= 17 (DFT), got {opset}")
    out_path = Path(out_path)
    model, info = load_model_dir(model_dir)
    model.eval()
    width = info.window.window_samples(info.sample_rate)
    inputs = parity_inputs(width, info.sample_rate)
    lengths = parity_lengths(len(inputs), width, info.sample_rate)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        program = _export(model, inputs[:2], opset, model_dir)
        candidates = [(False, Path(tmp) / "plain.onnx")]
        _save(program, candidates[0][1], model_dir)
        # onnxscript's graph optimiser makes the graph faster in ORT but has
        # been seen to drop "x + 1e-10" before a log (NaN on silence): its
        # output must pass the parity check too, else the plain graph ships.
        try:
            program.optimize()
            _save(program, Path(tmp) / "optimised.onnx", model_dir)
            candidates.insert(0, (True, Path(tmp) / "optimised.onnx"))
        except Exception as exc:  # the plain graph is still a valid export
            failures.append(f"optimiser failed: {type(exc).__name__}: {exc}")
        export_seconds = time.perf_counter() - began
        for optimize, candidate in candidates:
            logit_diff, prob_diff = check_parity(model, candidate, inputs, lengths)
            if logit_diff <= logit_tolerance and prob_diff <= probability_tolerance:
                break
            failures.append(
                f"{'optimised' if optimize else 'plain'} graph: max |logit diff| {logit_diff:.3e} "
                f"(tolerance {logit_tolerance:.0e}), max |probability diff| {prob_diff:.3e} "
                f"(tolerance {probability_tolerance:.0e})"
            )
        else:
            raise ExportError(
                f"{model_dir}: ONNX Runtime disagrees with PyTorch ({'; '.join(failures)}); "
                f"{out_path} not written"
            )
        shutil.move(str(candidate), out_path)
    return ParityReport(
        onnx_path=str(out_path),
        opset=opset,
        optimized=optimize,
        n_inputs=int(inputs.shape[0]),
        window_samples=width,
        max_abs_logit_diff=logit_diff,
        max_abs_probability_diff=prob_diff,
        logit_tolerance=logit_tolerance,
        probability_tolerance=probability_tolerance,
        export_seconds=export_seconds,
        size_bytes=out_path.stat().st_size,
    )


def install_onnx(onnx_path: str | Path, model_dir: str | Path) -> Path:
    """Copy an exported file into ``model_dir`` as ``model.onnx`` (what ``auto`` backends pick)."""
    target = Path(model_dir) / ONNX_FILE
    if Path(onnx_path).resolve() != target.resolve():
        shutil.copyfile(onnx_path, target)
    return target


def _export(model, example: np.ndarray, opset: int, model_dir):
    """Dynamo export of ``model`` (inputs ``waveform``, ``lengths``; dynamic batch axis), not optimised."""
    import torch

    waveform, lengths = _forward_args(model)
    batch = torch.export.Dim("batch", min=1, max=4096)
    example_lengths = torch.full((example.shape[0],), example.shape[1], dtype=torch.int64)
    example_lengths[0] = example.shape[1] // 3  # a short row too: the mask must not be folded away
    try:
        with _quiet_exporter():
            return torch.onnx.export(
                model,
                (torch.from_numpy(example), example_lengths),
                dynamo=True,
                input_names=[INPUT_NAME, LENGTHS_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={waveform: {0: batch}, lengths: {0: batch}},
                opset_version=opset,
                optimize=False,
                verbose=False,
            )
    except Exception as exc:
        raise ExportError(f"{model_dir}: ONNX export failed: {type(exc).__name__}: {exc}") from exc


def _save(program, path: Path, model_dir) -> None:
    try:
        program.save(str(path), external_data=False)
    except Exception as exc:
        raise ExportError(f"{model_dir}: writing the ONNX file failed: {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's registration chatter (e.g. "torchvision is not installed")."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _forward_args(model) -> tuple[str, str]:
    """Names of the forward's waveform and lengths parameters (dynamic_shapes is keyed by them)."""
    import inspect

    params = list(inspect.signature(model.forward).parameters)
    if len(params) < 2:
        raise ExportError("model.forward must take (waveform, lengths)")
    return params[0], params[1]


def parity_lengths(n_inputs: int, window_samples: int, sample_rate: int) -> np.ndarray:
    """Real lengths for the check windows: every other one cut short (0.5 s to most of the window)."""
    lengths = np.full(n_inputs, window_samples, dtype=np.int64)
    short = np.linspace(0.5 * sample_rate, 0.8 * window_samples, max(1, n_inputs // 2)).astype(np.int64)
    lengths[1::2] = short[: lengths[1::2].size]
    return np.minimum(lengths, window_samples)


def check_parity(model, onnx_file: str | Path, inputs: np.ndarray,
                 lengths: np.ndarray | None = None) -> tuple[float, float]:
    """Largest absolute logit and probability differences, ONNX Runtime vs PyTorch.

    ORT runs the inputs as one batch and one window at a time (this checks the
    dynamic batch axis), with every row whole and with ``lengths``;
    non-finite ORT output counts as infinitely different.

    Parameters
    ----------
    model : torch.nn.Module
        The reference, in eval mode.
    onnx_file : str or Path
        The exported graph.
    inputs : np.ndarray
        float32, shape ``(n, samples)``.
    lengths : np.ndarray, optional
        int64, shape ``(n,)``: a second pass with these real lengths.

    Returns
    -------
    (max_abs_logit_diff, max_abs_probability_diff)
    """
    import torch

    backend = OnnxBackend(onnx_file)
    full = np.full(len(inputs), inputs.shape[1], dtype=np.int64)
    logit_diff = prob_diff = 0.0
    for rows_lengths in [full] + ([] if lengths is None else [np.asarray(lengths, dtype=np.int64)]):
        with torch.inference_mode():
            reference = model(torch.from_numpy(inputs), torch.from_numpy(rows_lengths)).float().reshape(-1).numpy()
        # the whole set as one batch, then one window at a time: checks the dynamic axis
        ort_full = backend.logits(inputs, rows_lengths)
        ort_single = np.concatenate([backend.logits(inputs[i : i + 1], rows_lengths[i : i + 1])
                                     for i in range(len(inputs))])
        if not (np.all(np.isfinite(ort_full)) and np.all(np.isfinite(ort_single))):
            return math.inf, math.inf
        for got in (ort_full, ort_single):
            logit_diff = max(logit_diff, float(np.max(np.abs(got - reference))))
            prob_diff = max(prob_diff, float(np.max(np.abs(sigmoid(got) - sigmoid(reference)))))
    return logit_diff, prob_diff

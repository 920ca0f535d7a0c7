"""Model directories: the self-describing folder a trained model lives in.

Layout::

    model.safetensors   weights (state dict), no pickled code
    model.json          ModelInfo: architecture name + constructor arguments,
                        sample rate, window spec, threshold, versions, metrics
    config.yaml         the full resolved training config (for reproduction)
    MODEL_CARD.md       data, metrics, threshold, how to reproduce
    model.onnx          optional, written by ``audio-artifacts export``
    type_head.json      optional: the event type head (``explain.type_head``),
                        written by ``scripts/fit_type_head.py``; without it
                        events are measured but get no type
    residual/           optional: a complete model directory of the same model
                        fine-tuned on residuals, which stimulus-aware scans run
                        on what the stimulus does not explain
                        (``inference.residual_model``)

`load_model_dir` rebuilds the model through the registry from ``model.json``
alone, so no training code is needed to use a model.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_artifacts.errors import CheckpointError, ModelDirError

# torch, safetensors and yaml are imported where weights are read or written:
# `read_model_info` (the scan driver, the ONNX backend) must not pay ~1 s for torch.
if TYPE_CHECKING:
    from torch import nn

    from audio_artifacts.windows import WindowSpec

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "model.json"
CONFIG_FILE = "config.yaml"
CARD_FILE = "MODEL_CARD.md"
ONNX_FILE = "model.onnx"
RESIDUAL_DIR = "residual"
FORMAT = "audio-artifacts-model-dir/1"


MIN_DURATION_S = 0.5
"""Default shortest recording a model judges, seconds."""


@dataclass
class ModelInfo:
    """What a model directory says about its model (stored as ``model.json``).

    Attributes
    ----------
    name, version
        Human name and version of this trained model (e.g. ``"default"``, ``"1.0"``).
    architecture
        Registry name (`audio_artifacts.models.registry.MODELS`) of the class.
    arguments
        JSON-serialisable constructor arguments (the model's ``arguments()``).
    sample_rate
        Input sample rate in Hz of the waveform the model expects.
    window
        The window spec the model was trained on (5 s, 25 % overlap by default).
    threshold
        Operating threshold on the artifact probability, chosen on validation.
    package_version
        audio-artifacts version that wrote the directory.
    metrics
        Evaluation figures (free-form, JSON-serialisable).
    torch_version
        torch version that wrote the weights (filled in on save when empty).
    min_duration_s
        Shortest recording the model judges; a shorter one is an error row,
        not a guess (models are length-aware: a short recording's zero
        padding is masked, see ``models.masking``).
    temperature
        Temperature scaling fitted on validation windows: the artifact
        probability is ``sigmoid(logit / temperature)`` (1.0: as the network
        gives it; directories without the key read back as 1.0). ``threshold``
        is on that calibrated probability.
    """

    name: str
    version: str
    architecture: str
    arguments: dict
    sample_rate: int
    window: WindowSpec
    threshold: float
    package_version: str
    metrics: dict = field(default_factory=dict)
    torch_version: str = ""
    min_duration_s: float = MIN_DURATION_S
    temperature: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the window as ``{"duration_s", "overlap"}``)."""
        data = asdict(self)
        data["window"] = {"duration_s": self.window.duration_s, "overlap": self.window.overlap}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "model.json") -> ModelInfo:
        """Inverse of `to_dict`; `ModelDirError` naming ``source`` on missing/bad keys."""
        from audio_artifacts.windows import WindowSpec

        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in ("metrics", "torch_version", "min_duration_s",
                                                                     "temperature")}
        missing = sorted(required - set(data))
        if missing:
            raise ModelDirError(f"{source}: missing keys {missing}")
        values = {k: v for k, v in data.items() if k in known}
        try:
            window = values["window"]
            values["window"] = WindowSpec(
                duration_s=float(window["duration_s"]), overlap=float(window["overlap"])
            )
            values["sample_rate"] = int(values["sample_rate"])
            values["threshold"] = float(values["threshold"])
            if "min_duration_s" in values:
                values["min_duration_s"] = float(values["min_duration_s"])
            if "temperature" in values:
                values["temperature"] = float(values["temperature"])
                if not (values["temperature"] > 0 and values["temperature"] < float("inf")):
                    raise ValueError(f"temperature must be a positive number, got {values['temperature']}")
            if not isinstance(values["arguments"], dict):
                raise TypeError("arguments must be an object")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source}: invalid value ({exc})") from exc
        return cls(**values)


def default_model_dir() -> Path:
    """The bundled default model: ``audio_artifacts/default_model`` inside the package."""
    return Path(__file__).resolve().parent.parent / "default_model"


def _write_atomic(path: Path, write: Any) -> None:
    """Write via a temporary file in the same folder, then rename (no half files).

    The file gets the permissions of a normally created one (0666 less the
    umask, e.g. 0644), not the 0600 of a temporary file, so a model directory
    can be shared with the group.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_text(path: Path, text: str) -> None:
    _write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def default_card(info: ModelInfo) -> str:
    """A minimal model card written from ``info`` when the caller gives none."""
    metrics = "\n".join(f"| {k} | {v} |" for k, v in sorted(info.metrics.items())) or "| - | - |"
    return (
        f"# Model card: {info.name} {info.version}\n\n"
        f"- architecture: `{info.architecture}`\n"
        f"- input: mono waveform at {info.sample_rate} Hz, windows of "
        f"{info.window.duration_s} s with {info.window.overlap:.0%} overlap\n"
        f"- output: artifact logit per window; probability = sigmoid(logit)\n"
        f"- operating threshold (probability): {info.threshold}\n"
        f"- written by audio-artifacts {info.package_version}, torch {info.torch_version}\n\n"
        f"## Metrics\n\n| metric | value |\n|---|---|\n{metrics}\n\n"
        f"## Reproduce\n\nThe full training config is in `config.yaml`:\n"
        f"`audio-artifacts train --config config.yaml`.\n"
    )


def save_model_dir(
    directory: str | Path,
    model: nn.Module,
    info: ModelInfo,
    config: dict | None = None,
    card: str | None = None,
) -> Path:
    """Write ``model`` and ``info`` as a model directory (created if needed).

    Parameters
    ----------
    directory
        Target folder; existing files of the same names are replaced.
    model
        An instance of ``MODELS[info.architecture]``.
    info
        Its description; ``info.arguments`` must rebuild ``model``.
    config
        The resolved training config, written as ``config.yaml``.
    card
        Markdown model card; a minimal one is generated when None.

    Returns
    -------
    Path
        The directory.
    """
    import torch
    import yaml
    from safetensors.torch import save_file

    from audio_artifacts.models.registry import MODELS

    if info.architecture not in MODELS:
        raise ValueError(
            f"unknown architecture {info.architecture!r}; valid: {', '.join(sorted(MODELS))}"
        )
    if not isinstance(model, MODELS[info.architecture]):
        raise ValueError(
            f"model is a {type(model).__name__}, but architecture {info.architecture!r} "
            f"is {MODELS[info.architecture].__name__}"
        )
    if not info.torch_version:
        info.torch_version = torch.__version__
    try:
        info_text = json.dumps(info.to_dict(), indent=2, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"ModelInfo is not JSON-serialisable: {exc}") from exc
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {"architecture": info.architecture, "format": FORMAT}
    _write_atomic(directory / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata=metadata))
    _write_text(directory / INFO_FILE, info_text + "\n")
    _write_text(directory / CONFIG_FILE, yaml.safe_dump(config or {}, sort_keys=False))
    _write_text(directory / CARD_FILE, card if card is not None else default_card(info))
    return directory


def read_model_info(directory: str | Path) -> ModelInfo:
    """Read ``model.json`` of a model directory.

    Raises
    ------
    ModelDirError
        The directory or ``model.json`` is missing, or the JSON is invalid.
    """
    directory = Path(directory)
    if directory.is_file():
        hint = ""
        if directory.suffix.lower() == ".onnx":
            hint = (f"; a bare ONNX file lacks the sample rate, window and threshold: put it as "
                    f"{ONNX_FILE} into the model directory it was exported from (`audio-artifacts export "
                    f"MODEL_DIR` writes MODEL_DIR/{ONNX_FILE}) and pass that folder")
        elif directory.name == INFO_FILE:
            hint = f"; pass its folder {directory.parent}"
        raise ModelDirError(f"{directory}: is a file, not a model directory (a folder with {INFO_FILE} "
                            f"and {WEIGHTS_FILE}){hint}")
    if not directory.is_dir():
        raise ModelDirError(f"{directory}: not a model directory (no such folder)")
    path = directory / INFO_FILE
    if not path.is_file():
        if (directory / "model" / INFO_FILE).is_file():
            raise ModelDirError(f"{directory}: missing {INFO_FILE}; this is a training run directory: "
                                f"its model directory is {directory / 'model'}")
        if (directory / "best" / INFO_FILE).is_file():
            raise ModelDirError(f"{directory}: missing {INFO_FILE}; this is a sweep folder: its best "
                                f"model directory is {directory / 'best'}")
        raise ModelDirError(f"{directory}: missing {INFO_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: unreadable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelDirError(f"{path}: expected a JSON object")
    return ModelInfo.from_dict(data, source=path)


def load_state(directory: str | Path, model: nn.Module) -> None:
    """Load ``model.safetensors`` of ``directory`` into ``model``, strictly.

    Raises
    ------
    ModelDirError
        The weights file is missing or not a safetensors file.
    CheckpointError
        Missing, unexpected or mis-shaped weights (all listed).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise ModelDirError(f"{directory}: missing {WEIGHTS_FILE}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelDirError(f"{path}: not a readable safetensors file ({exc})") from exc
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if shapes:
        problems.append("shape mismatches " + "; ".join(shapes))
    if problems:
        raise CheckpointError(
            f"{path}: weights do not fit {type(model).__name__}: " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def load_model_dir(directory: str | Path) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the model of a model directory (eval mode, on CPU).

    Returns
    -------
    (model, info)

    Raises
    ------
    ModelDirError
        Missing folder / file, invalid ``model.json``, unknown architecture or
        arguments the architecture does not accept.
    CheckpointError
        Weights that do not fit the rebuilt model.
    """
    from audio_artifacts.models.registry import build_model

    directory = Path(directory)
    info = read_model_info(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise ModelDirError(f"{directory}: missing {WEIGHTS_FILE}")
    try:
        model = build_model(info.architecture, **info.arguments)
    except (TypeError, ValueError) as exc:
        raise ModelDirError(
            f"{directory / INFO_FILE}: cannot build {info.architecture!r} from its arguments ({exc})"
        ) from exc
    load_state(directory, model)
    model.eval()
    return model, info

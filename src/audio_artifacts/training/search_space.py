"""Hyper-parameter search spaces as data: a YAML file of dotted config keys and their ranges.

::

    parameters:
      optim.max_head_lr:       {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      model.arguments.unfreeze_last: {type: int, low: 0, high: 3}
      data.batch_size:         {type: categorical, choices: [32, 64, 128]}

* ``float``: ``low``..``high``, ``log: true`` samples on a log scale, optional ``step``;
* ``int``: ``low``..``high`` inclusive, optional ``step`` (or ``log``);
* ``categorical``: one of ``choices`` (numbers, strings, booleans or null).

Any key of the training config can be searched (``optim.*``, ``data.*``,
``augment.*.p``, ``model.arguments.*``, ...); :func:`check_space` tries the
ends of every range on the base config before the first trial, so a wrong key
or an impossible value is reported at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from audio_artifacts.errors import ConfigError
from audio_artifacts.training.config import config_from_dict

__all__ = ["Parameter", "SearchSpace", "check_space", "load_space", "set_dotted"]

KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Parameter:
    """One searched config key and its distribution."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna ``trial`` draws for this key (the key is the parameter's name)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, list(self.choices))

    def ends(self) -> list[Any]:
        """The extreme values (both ends of a range, every choice) to check against the config."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep, in file order, and where they were read from."""

    parameters: tuple[Parameter, ...]
    source: str = "search space"

    def suggest(self, trial: Any) -> dict[str, Any]:
        """``{dotted key: value}`` drawn by ``trial`` for every parameter."""
        return {p.key: p.suggest(trial) for p in self.parameters}


def _parameter(key: str, spec: Any, where: str, problems: list[str]) -> Parameter | None:
    if not isinstance(spec, dict):
        problems.append(f"{where}: expected a mapping like {{type: float, low: 1e-4, high: 1e-2}}, got {spec!r}")
        return None
    unknown = sorted(set(spec) - {"type", "low", "high", "log", "step", "choices"})
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in KINDS:
        problems.append(f"{where}: 'type' must be one of {', '.join(KINDS)}, got {kind!r}")
        return None
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            problems.append(f"{where}: 'choices' must be a non-empty list")
            return None
        bad = [c for c in choices if not (c is None or isinstance(c, (bool, int, float, str)))]
        if bad:
            problems.append(f"{where}: choices must be numbers, strings, booleans or null, got {bad[0]!r}")
            return None
        return Parameter(key, kind, choices=tuple(choices))
    numbers = {}
    for name in ("low", "high", "step"):
        value = spec.get(name)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"{where}: '{name}' must be a number, got {value!r}")
            return None
        if kind == "int" and value is not None and value != int(value):
            problems.append(f"{where}: '{name}' must be a whole number for type int, got {value!r}")
            return None
        numbers[name] = value if value is None or kind == "float" else int(value)
    low, high, step = numbers["low"], numbers["high"], numbers["step"]
    log = spec.get("log", False)
    if low is None or high is None:
        problems.append(f"{where}: 'low' and 'high' are required for type {kind}")
        return None
    if not isinstance(log, bool):
        problems.append(f"{where}: 'log' must be true or false, got {log!r}")
        return None
    if low > high:
        problems.append(f"{where}: 'low' ({low}) must be <= 'high' ({high})")
    if log and low <= 0:
        problems.append(f"{where}: a log range needs 'low' > 0, got {low}")
    if log and step is not None:
        problems.append(f"{where}: 'step' and 'log: true' cannot be combined")
    if step is not None and step <= 0:
        problems.append(f"{where}: 'step' must be > 0, got {step}")
    return Parameter(key, kind, low=float(low) if kind == "float" else low,
                     high=float(high) if kind == "float" else high, log=log, step=step)


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space YAML file.

    Raises
    ------
    ConfigError
        Unreadable or invalid YAML, no ``parameters``, or bad entries (all listed).
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read search space ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("parameters"), dict) or not loaded["parameters"]:
        raise ConfigError(f"{path}: expected a mapping with a non-empty 'parameters:' mapping of dotted "
                          "config keys, e.g. parameters: {{optim.max_head_lr: {{type: float, low: 1e-4, "
                          "high: 1e-2, log: true}}}}")
    unknown = sorted(set(loaded) - {"parameters"})
    problems = [f"unknown top-level key(s) {', '.join(unknown)} (only 'parameters')"] if unknown else []
    parameters = []
    for key, spec in loaded["parameters"].items():
        parameter = _parameter(str(key), spec, f"parameter '{key}'", problems)
        if parameter is not None:
            parameters.append(parameter)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
    return SearchSpace(tuple(parameters), source=str(path))


def set_dotted(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` with every ``a.b.c`` key of ``values`` set (missing levels created)."""
    result = copy.deepcopy(raw)
    for key, value in values.items():
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return result


def check_space(space: SearchSpace, raw: dict[str, Any]) -> None:
    """Build the config with each end of every range (one parameter at a time, the
    others as in ``raw``) and report every key or value the config refuses, before any
    trial runs.

    Raises
    ------
    ConfigError
        Naming the search-space file, the parameter and the config's reason.
    """
    import inspect

    from audio_artifacts.models.registry import MODELS

    problems = []
    model_name = set_dotted(raw, {p.key: p.ends()[0] for p in space.parameters}).get("model", {}).get("name", "fast")
    if model_name in MODELS:
        accepted = set(inspect.signature(MODELS[model_name]).parameters)
        for parameter in space.parameters:
            argument = parameter.key.removeprefix("model.arguments.")
            if parameter.key.startswith("model.arguments.") and argument not in accepted:
                problems.append(f"parameter '{parameter.key}': model {model_name!r} has no argument "
                                f"{argument!r} (its arguments: {', '.join(sorted(accepted))})")
    for parameter in space.parameters:
        for value in parameter.ends():
            try:
                config_from_dict(set_dotted(raw, {parameter.key: value}), source="config")
            except ConfigError as exc:
                reasons = [line.strip(" -") for line in str(exc).splitlines()[1:]] or [str(exc)]
                problems.extend(f"parameter '{parameter.key}' = {value!r}: {r}" for r in reasons)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError(f"{space.source}: {len(unique)} problem(s) against the config\n"
                          + "\n".join(f"  - {p}" for p in unique))

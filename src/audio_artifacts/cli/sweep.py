"""``audio-artifacts sweep --config C --trials N --out DIR [KEY.SUB=VALUE ...] [--space FILE.yaml]
[--storage URL] [--jobs J] [--sampler tpe|random] [--pruner median|none] [--study NAME]``.

Runs an Optuna study over the search space (default: ``sweep/fast.yaml`` for
the fast model, ``sweep/panns.yaml`` for a frozen backbone with unfrozen
blocks, else ``sweep/common.yaml``; looked up next to the config file, then
in ``./configs``); prints the best trial and where
its model directory is (``DIR/best``). Exit codes: 0 a best model was
written; 1 no trial completed; 2 usage or config errors.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

SPACE_FILES = {"panns": "sweep/panns.yaml", "fast": "sweep/fast.yaml", "common": "sweep/common.yaml"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="YAML", help="the base experiment file")
    parser.add_argument("--trials", type=int, required=True, metavar="N",
                        help="trials the study holds in the end (a resumed study counts its earlier ones)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="sweep folder: study.db, trials.csv, trials/NNNN/, best/")
    parser.add_argument("--space", metavar="FILE.yaml", default=None,
                        help="search space (default: sweep/fast.yaml for the fast model, sweep/panns.yaml for a "
                             "frozen backbone with unfrozen blocks, else sweep/common.yaml; beside the config "
                             "or in ./configs)")
    parser.add_argument("--storage", metavar="URL", default=None,
                        help="Optuna storage to resume or share a study, e.g. sqlite:///sweep.db or "
                             "postgresql://... (default: sqlite:///DIR/study.db)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J",
                        help="trials at the same time, one worker process each (one GPU each where present)")
    parser.add_argument("--sampler", choices=("tpe", "random"), default="tpe", help="default: tpe")
    parser.add_argument("--pruner", choices=("median", "none"), default="median",
                        help="stop trials whose validation curve lags the median (default) or never")
    parser.add_argument("--study", metavar="NAME", default=None, help="study name (default: the config's name)")
    parser.add_argument("overrides", nargs="*", metavar="KEY.SUB=VALUE",
                        help="overrides of the base config, e.g. trainer.max_epochs=5")


def default_space(config: Path, model_name: str, arguments: dict | None = None) -> Path:
    """The shipped search space for ``model_name``, beside the config file or in ./configs.

    The fast model's own space; the PANNs space (it searches ``unfreeze_last``) for a
    model whose backbone the config freezes (``arguments``: the config's model
    arguments); else the common one (learning rates, weight decay, batch size).
    """
    from audio_artifacts.errors import ConfigError
    from audio_artifacts.models.registry import MODELS

    parameters = inspect.signature(MODELS[model_name]).parameters if model_name in MODELS else {}
    frozen = (arguments or {}).get("freeze_backbone", parameters["freeze_backbone"].default
                                   if "freeze_backbone" in parameters else False)
    if model_name == "fast":
        kind = "fast"
    elif "unfreeze_last" in parameters and frozen is not False:
        kind = "panns"
    else:
        kind = "common"
    candidates = [config.parent / SPACE_FILES[kind], Path("configs") / SPACE_FILES[kind]]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no --space given and no {SPACE_FILES[kind]} at {' or '.join(map(str, candidates))}; "
                      f"pass --space FILE.yaml (the repository ships configs/{SPACE_FILES[kind]})")


def run(args: argparse.Namespace) -> int:
    from audio_artifacts.training.config import config_from_dict, load_raw
    from audio_artifacts.training.search_space import load_space
    from audio_artifacts.training.sweep import run_sweep

    for item in args.overrides:
        if "=" not in item:
            print(f"audio-artifacts sweep: error: override {item!r} needs KEY.SUB=VALUE", file=sys.stderr)
            return 2
    raw = load_raw(args.config, args.overrides)
    cfg = config_from_dict(raw, source=args.config)
    space_path = Path(args.space) if args.space else default_space(Path(args.config), cfg.model.name, cfg.model.arguments)
    space = load_space(space_path)
    goal = "maximising" if cfg.trainer.monitor_mode == "max" else "minimising"
    print(f"sweep: {len(space.parameters)} parameter(s) from {space_path}, {args.trials} trial(s), "
          f"{goal} {cfg.trainer.monitor}", file=sys.stderr)
    result = run_sweep(raw, space, args.out, args.trials, storage=args.storage, jobs=args.jobs,
                       sampler=args.sampler, pruner=args.pruner, study_name=args.study)
    print(f"trials: {result.trials_csv} ({result.n_trials} in study {result.study_name!r}, {result.storage})")
    if result.best_dir is None:
        print("no trial completed; see trials.csv and the trials' logs", file=sys.stderr)
        return 1
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in result.best_params.items())
    print(f"best: trial {result.best_number}, {result.monitor} = {result.best_value:.4f} ({params})")
    print(f"best model directory: {result.best_dir}")
    return 0

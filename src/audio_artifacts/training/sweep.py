"""Hyper-parameter sweeps on Optuna: every trial is one ordinary ``train()`` run.

``run_sweep`` samples the search space (TPE by default, or random), trains one
run directory per trial (``OUT/trials/NNNN``), reports the monitored
validation metric (``trainer.monitor``) to Optuna after every validation
round so that the median pruner can stop a trial whose curve lags the others,
and keeps the study in a database (``OUT/study.db`` unless ``storage`` names
another one): running the same command again continues the study, and several
machines given the same ``storage`` share it.

Written as trials finish::

    OUT/trials.csv      every trial: number, state, metric, duration, parameters, run directory
    OUT/trials/NNNN/    the trial's run directory (config, checkpoints, logs, model/)
    OUT/best/           a copy of the best trial's model directory (scan --model OUT/best)

With ``jobs > 1`` the trials run in that many worker processes sharing the
study; on a machine with GPUs each worker sees one GPU
(``CUDA_VISIBLE_DEVICES``) and every trial trains on one device.
"""

from __future__ import annotations

import csv
import gc
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from audio_artifacts.errors import ConfigError
from audio_artifacts.training.config import config_from_dict
from audio_artifacts.training.search_space import SearchSpace, check_space, set_dotted

__all__ = ["PruneOnValidation", "SweepResult", "run_sweep", "write_trials_csv"]

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")


def _optuna():
    try:
        import optuna
    except ModuleNotFoundError as exc:  # an optional extra
        raise ConfigError("audio-artifacts sweep needs Optuna: pip install 'audio-artifacts[sweep]'") from exc
    return optuna


class PruneOnValidation(pl.Callback):
    """Report ``monitor`` to an Optuna trial after each validation round; stop a trial Optuna prunes.

    Raising ``optuna.TrialPruned`` inside Lightning ends ``fit`` (Lightning
    re-raises it after closing its loggers), so a pruned trial writes no model
    directory.
    """

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = int(trainer.current_epoch)
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise _optuna().TrialPruned(f"trial {self.trial.number} pruned after epoch {epoch}: "
                                        f"{self.monitor} = {float(value):.4g}")


@dataclass(frozen=True)
class SweepResult:
    """What a sweep left: the study and the best trial (None when no trial completed)."""

    study_name: str
    storage: str
    monitor: str
    direction: str
    n_trials: int
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_dir: Path | None
    trials_csv: Path


def _storage(url: str | None, out: Path) -> Any:
    """The study's storage: the given URL, or ``sqlite:///OUT/study.db`` (with heartbeats,
    so a trial of a killed process is marked failed when the sweep resumes)."""
    optuna = _optuna()
    url = url or f"sqlite:///{(out / 'study.db').resolve()}"
    if url.startswith(("sqlite:", "mysql", "postgresql")):
        with warnings.catch_warnings():  # heartbeats are marked experimental by Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return url, optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    return url, url


def write_trials_csv(study: Any, path: Path, monitor: str) -> Path:
    """Every trial of ``study`` as one CSV row (rewritten whole, atomically)."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    header = ["number", "state", monitor, "duration_s", "last_epoch", *(f"param:{k}" for k in keys),
              "run_dir", "started"]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for t in sorted(trials, key=lambda t: t.number):
            duration = "" if t.duration is None else f"{t.duration.total_seconds():.1f}"
            value = t.value if t.value is not None else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else "")
            last = max(t.intermediate_values) if t.intermediate_values else ""
            writer.writerow([t.number, t.state.name, value, duration, last,
                             *(t.params.get(k, "") for k in keys), t.user_attrs.get("run_dir", ""),
                             "" if t.datetime_start is None else t.datetime_start.isoformat(timespec="seconds")])
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def _objective(raw: dict[str, Any], space: SearchSpace, out: Path, monitor: str, version: str):
    import torch

    from audio_artifacts.training.train import train

    def objective(trial: Any) -> float:
        values = space.suggest(trial)
        trial_raw = set_dotted(raw, values)
        name = trial_raw.get("name") or "detector"
        trial_raw["version"] = f"{version}-trial{trial.number}"
        logger = trial_raw.setdefault("logger", {})
        if isinstance(logger, dict) and logger.get("mlflow"):
            logger["run_name"] = f"{name}-trial-{trial.number:04d}"
        trainer = trial_raw.setdefault("trainer", {})
        if torch.cuda.is_available() and str(trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda"):
            trainer["devices"] = 1  # one GPU per trial (a worker sees only its own)
            trainer["strategy"] = "auto"
        cfg = config_from_dict(trial_raw, source=f"trial {trial.number}")
        run_dir = out / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        log.info("trial %d: %s", trial.number, shown)
        train(cfg, run_dir, command=f"audio-artifacts train --config {run_dir / 'config.yaml'}",
              callbacks=[PruneOnValidation(trial, monitor)])
        fit = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["fit"]
        if fit.get("best_score") is None:
            raise ConfigError(f"trial {trial.number}: no value of {monitor} was logged "
                              "(no validation round ran?)")
        return float(fit["best_score"])

    return objective


def _optimize(raw: dict[str, Any], space: SearchSpace, out: Path, n_trials: int, study_name: str,
              storage_url: str | None, sampler: str, pruner: str, seed: int, version: str,
              worker: int = 0) -> None:
    """Run trials of the shared study until it holds ``n_trials`` (one process)."""
    optuna = _optuna()
    from audio_artifacts.training.module import TrainingDivergedError

    cfg = config_from_dict(raw)
    _, storage = _storage(storage_url, out)
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed + worker),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed + worker)}
    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
               "none": lambda: optuna.pruners.NopPruner()}
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=samplers[sampler](),
                              pruner=pruners[pruner]())
    monitor = cfg.trainer.monitor
    trials_csv = out / "trials.csv"
    objective = _objective(raw, space, out, monitor, version)
    while True:
        # Counting the study's trials and adding one is one step for all workers of this sweep:
        # two workers that both saw room for one more trial would otherwise both add it.
        with _trial_budget_lock(out):
            if len(study.get_trials(deepcopy=False)) >= n_trials:
                return
            trial = study.ask()
        try:
            study.tell(trial, objective(trial))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except TrainingDivergedError as exc:
            log.warning("trial %d failed: %s", trial.number, exc)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        finally:
            gc.collect()
            write_trials_csv(study, trials_csv, monitor)  # every trial's row, a failed one's too


@contextmanager
def _trial_budget_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on ``OUT/.trials.lock`` across the processes of one machine (none without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(out / ".trials.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _worker(env: dict[str, str], kwargs: dict[str, Any]) -> None:  # pragma: no cover - child process
    os.environ.update(env)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _optimize(**kwargs)


def run_sweep(
    raw: dict[str, Any], space: SearchSpace, out: str | Path, n_trials: int, *,
    storage: str | None = None, jobs: int = 1, sampler: str = "tpe", pruner: str = "median",
    study_name: str | None = None, seed: int | None = None,
) -> SweepResult:
    """Sweep ``space`` over the experiment ``raw`` (plain config dicts, overrides applied).

    Parameters
    ----------
    raw : the base experiment; each trial sets the space's keys on a copy
    space : the search space (:func:`~audio_artifacts.training.search_space.load_space`)
    out : sweep folder (study database, trials.csv, trials/, best/)
    n_trials : trials the study should hold in the end (an existing study counts its own)
    storage : an Optuna storage URL (default ``sqlite:///OUT/study.db``)
    jobs : worker processes running trials at the same time
    sampler : ``tpe`` (default) or ``random``
    pruner : ``median`` (default: stop a trial whose metric lags the median of
        earlier trials at the same epoch) or ``none``
    study_name : default: the config's ``name``
    seed : sampler seed (default: the config's ``seed``)

    Raises
    ------
    ConfigError
        A bad base config, a search space the config refuses, bad arguments,
        or Optuna missing.
    """
    optuna = _optuna()
    cfg = config_from_dict(raw)
    if n_trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {n_trials}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    check_space(space, raw)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    monitor = cfg.trainer.monitor
    direction = "maximize" if cfg.trainer.monitor_mode == "max" else "minimize"
    study_name = study_name or cfg.name
    seed = cfg.seed if seed is None else seed
    url, store = _storage(storage, out)
    study = optuna.create_study(study_name=study_name, storage=store, direction=direction,
                                load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {study_name!r} in {url} was created to {study.direction.name.lower()} "
                          f"its metric, but {monitor} ({cfg.trainer.monitor_mode}) needs {direction}")
    version = cfg.version or datetime.now(timezone.utc).strftime("%Y%m%d.%H%M%S")
    kwargs = dict(raw=raw, space=space, out=out, n_trials=n_trials, study_name=study_name,
                  storage_url=storage, sampler=sampler, pruner=pruner, seed=seed, version=version)
    if jobs == 1:
        _optimize(**kwargs)
    else:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        context = multiprocessing.get_context("spawn")
        processes = []
        for worker in range(jobs):
            env = {"CUDA_VISIBLE_DEVICES": str(worker % gpus)} if gpus else {}
            process = context.Process(target=_worker, args=(env, {**kwargs, "worker": worker}),
                                      name=f"sweep-worker-{worker}")
            process.start()
            processes.append(process)
            time.sleep(0.5)  # stagger the first trials' database writes
        for process in processes:
            process.join()
        failed = [p.name for p in processes if p.exitcode not in (0, None)]
        if failed:
            log.warning("sweep worker(s) %s ended with an error; see their output above", ", ".join(failed))

    study = optuna.load_study(study_name=study_name, storage=store)
    trials_csv = write_trials_csv(study, out / "trials.csv", monitor)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return SweepResult(study_name, url, monitor, direction, len(study.trials), None, None, {}, None,
                           trials_csv)
    best = study.best_trial
    best_dir = out / "best"
    source = Path(best.user_attrs["run_dir"]) / "model"
    staging = out / ".best.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    shutil.rmtree(best_dir, ignore_errors=True)
    os.replace(staging, best_dir)
    (out / "best.json").write_text(json.dumps({
        "trial": best.number, monitor: best.value, "params": best.params,
        "run_dir": best.user_attrs["run_dir"], "study": study_name, "storage": url,
    }, indent=2) + "\n", encoding="utf-8")
    return SweepResult(study_name, url, monitor, direction, len(study.trials), best.number,
                       float(best.value), dict(best.params), best_dir, trials_csv)

"""Experiment tracking of a training run: the loggers Lightning writes to.

* CSV, always: ``RUN_DIR/logs/metrics.csv``. A run resumed into the same run
  directory writes ``logs/resume-N/metrics.csv`` instead, so the earlier
  epochs' log is kept (Lightning's CSV logger would delete it).
* TensorBoard with ``logger.tensorboard: true``: ``RUN_DIR/tensorboard``
  (``tensorboard --logdir RUN_DIR/tensorboard``).
* MLflow with ``logger.mlflow: true``: ``logger.tracking_uri`` (a folder is
  MLflow's local file store; ``mlflow ui --backend-store-uri FOLDER`` shows it).
"""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger

from audio_artifacts.training.config import TrainConfig

__all__ = ["csv_log_version", "make_loggers", "mlflow_logger", "tracking_uri"]


def tracking_uri(uri: str) -> str:
    """A plain folder becomes a ``file://`` URI; anything with a scheme is kept."""
    if "://" in uri or uri.startswith(("file:", "databricks", "azureml:")):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def csv_log_version(run_dir: Path, resuming: bool) -> str:
    """``""`` (``logs/``) for a fresh run; ``resume-N`` for the N-th resume into a run
    directory that already holds a CSV log."""
    logs = run_dir / "logs"
    if not resuming or not (logs / "metrics.csv").is_file():
        return ""
    n = 1
    while (logs / f"resume-{n}").exists():
        n += 1
    return f"resume-{n}"


def make_loggers(cfg: TrainConfig, run_dir: Path) -> list[Logger]:
    """CSV (always), then TensorBoard and MLflow as configured; MLflow, when on, is last."""
    version = csv_log_version(run_dir, cfg.trainer.resume is not None)
    loggers: list[Logger] = [CSVLogger(str(run_dir), name="logs", version=version)]
    if cfg.logger.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="tensorboard", version=version,
                                         default_hp_metric=False))
    if cfg.logger.mlflow:
        loggers.append(mlflow_logger(cfg))
    return loggers


def mlflow_logger(cfg: TrainConfig) -> Logger:
    """Lightning's MLflow logger for ``cfg.logger`` (run name: ``run_name`` or the config's name)."""
    from lightning.pytorch.loggers import MLFlowLogger

    uri = tracking_uri(cfg.logger.tracking_uri)
    if uri.startswith("file:"):
        # MLflow 3 refuses its file store unless asked; a local folder is our
        # documented default
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(
        experiment_name=cfg.logger.experiment,
        run_name=cfg.logger.run_name or cfg.name,
        tracking_uri=uri,
        log_model=False,
    )

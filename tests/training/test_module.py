"""LightningModule and DataModule parts: optimiser groups, schedule, sampler, class weights,
and the shipped configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audio_artifacts.models.registry import MODELS, build_model
from audio_artifacts.training.config import OptimConfig, config_from_dict, load_config
from audio_artifacts.training.datamodule import BalancedSampler, WindowDataModule
from audio_artifacts.training.module import DetectorModule, one_cycle_factor, window_and_recording_metrics

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


class _Trainer:  # what configure_optimizers reads from a trainer
    estimated_stepping_batches = 100


def test_two_parameter_groups_with_their_peak_learning_rates(tiny_config):
    cfg = config_from_dict(tiny_config())
    model = build_model("fast", **cfg.model.arguments)
    optim = OptimConfig(backbone_lr=1e-4, head_lr=5e-3, weight_decay=0.008,
                        max_backbone_lr=5e-4, max_head_lr=8e-3, div_factor=25.0)
    module = DetectorModule(model, optim)
    module.trainer = _Trainer()  # type: ignore[assignment]
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    names = [g["name"] for g in optimizer.param_groups]
    assert names == ["backbone", "head"]
    groups = model.parameter_groups()
    assert {id(p) for p in optimizer.param_groups[1]["params"]} == {id(p) for p in groups["head"]}
    assert all(g["weight_decay"] == 0.008 for g in optimizer.param_groups)
    # the cycle starts at peak / div_factor and reaches the peak after pct_start
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([5e-4 / 25, 8e-3 / 25])
    peaks = []
    for _ in range(100):
        peaks.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert np.max(peaks, axis=0) == pytest.approx([5e-4, 8e-3])
    assert peaks[-1][1] < 8e-3 / 1e4


def test_frozen_parameters_are_left_out_and_constant_schedule():
    model = build_model("fast", channels=8, hidden=16)
    for p in model.parameter_groups()["backbone"]:
        p.requires_grad_(False)
    module = DetectorModule(model, OptimConfig(scheduler="constant", head_lr=2e-3))
    optimizer = module.configure_optimizers()
    assert [g["name"] for g in optimizer.param_groups] == ["head"]
    assert optimizer.param_groups[0]["lr"] == 2e-3


def test_one_cycle_factor_matches_pytorch_onecycle():
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=1.0)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1.0, total_steps=50, pct_start=0.3, div_factor=25.0, cycle_momentum=False
    )
    for step in range(50):
        assert one_cycle_factor(step, 50, 0.3, 25.0) == pytest.approx(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()


def test_loss_weighting_uses_inverse_class_frequency(tiny_config):
    cfg = config_from_dict(tiny_config())
    dm = WindowDataModule(cfg.data, seed=0)
    assert dm.class_counts() == (6, 6)
    assert dm.pos_weight() == 1.0
    dm.train_set.labels[np.flatnonzero(dm.train_set.labels)[:4]] = 0  # 10 clean vs 2 artifact
    assert dm.pos_weight() == pytest.approx(5.0)


def test_balanced_sampler_draws_classes_equally_and_splits_ranks():
    labels = np.array([0] * 90 + [1] * 10)
    draws = list(BalancedSampler(labels, seed=1, num_samples=4000))
    assert abs(np.mean(labels[draws]) - 0.5) < 0.03
    ranks = [BalancedSampler(labels, num_replicas=2, rank=r, seed=1, num_samples=4000) for r in (0, 1)]
    first, second = (list(s) for s in ranks)
    assert len(first) == len(second) == 2000
    assert sorted(first + second) == sorted(draws)  # the two ranks share one draw
    ranks[0].set_epoch(1)
    assert list(ranks[0]) != first


def test_window_and_recording_metrics():
    labels = np.array([0, 0, 1, 0, 0, 0])
    probs = np.array([0.1, 0.2, 0.9, 0.3, 0.6, 0.2])
    recording = np.array([0, 0, 0, 1, 1, 2])  # recording 1 is clean but has a 0.6 window
    values = window_and_recording_metrics(labels, probs, recording)
    assert values["val_auc"] == 1.0
    assert values["val_f1"] == pytest.approx(2 / 3)  # 0.9 and 0.6 flagged, one right
    assert values["val_rec_auc"] == 1.0 and values["val_rec_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.model.name in MODELS
    assert cfg.data.window_s == 5.0 and cfg.data.overlap == 0.25


def test_default_config_exists():
    assert "default.yaml" in [p.name for p in CONFIGS]


def test_diverged_logits_raise_a_clear_error():
    from audio_artifacts.errors import AudioArtifactsError
    from audio_artifacts.training.module import TrainingDivergedError, check_finite

    check_finite(torch.tensor([0.0, -3.0, 8.0]), "ok")
    with pytest.raises(TrainingDivergedError, match="validation: 2 of 3 logits are NaN or infinite") as info:
        check_finite(torch.tensor([float("nan"), 1.0, float("inf")]), "validation")
    assert isinstance(info.value, AudioArtifactsError)  # the CLI prints it as one line

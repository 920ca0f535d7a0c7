"""Training config: YAML + dotted overrides, every unknown key named, types checked."""

from __future__ import annotations

import pytest
import yaml

from audio_artifacts.errors import ConfigError
from audio_artifacts.training.config import TrainConfig, load_config, resolved_config

BASE = {
    "name": "tiny",
    "data": {"train_manifest": "train.csv", "val_manifest": "val.csv", "batch_size": 4},
    "optim": {"head_lr": 1e-3},
}


def write(tmp_path, raw) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_yaml_values_and_defaults(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert isinstance(cfg, TrainConfig)
    assert cfg.name == "tiny"
    assert cfg.data.batch_size == 4
    assert cfg.data.window_s == 5.0 and cfg.data.overlap == 0.25
    assert cfg.optim.head_lr == pytest.approx(1e-3)
    assert cfg.model.pretrained is None


def test_overrides_parse_values_and_nest(tmp_path):
    cfg = load_config(
        write(tmp_path, BASE),
        ["optim.head_lr=1e-3", "optim.backbone_lr=2.5e-4", "trainer.devices=2",
         "trainer.strategy=ddp", "model.arguments.channels=32", "model.pretrained=/ckpt/Cnn14.pth",
         "augment.inject.types=[tone, buzz]", "data.skip_bad_files=true", "logger.run_name=null"],
    )
    # "1e-3" is a string to YAML 1.1; float fields still accept it
    assert cfg.optim.head_lr == pytest.approx(1e-3) and isinstance(cfg.optim.head_lr, float)
    assert cfg.optim.backbone_lr == pytest.approx(2.5e-4)
    assert cfg.trainer.devices == 2 and isinstance(cfg.trainer.devices, int)
    assert cfg.trainer.strategy == "ddp"
    assert cfg.model.arguments == {"channels": 32}
    assert cfg.model.pretrained == "/ckpt/Cnn14.pth"
    assert cfg.augment.inject.types == ["tone", "buzz"]
    assert cfg.data.skip_bad_files is True
    assert cfg.logger.run_name is None


def test_every_unknown_key_is_named(tmp_path):
    raw = dict(BASE, trainr={"devices": 1}, optim={"lr_head": 1.0, "head_lr": 1e-3})
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, raw), ["augment.gain.probability=0.5"])
    message = str(info.value)
    assert "3 problem(s)" in message
    for key in ("'trainr'", "'optim.lr_head'", "'augment.gain.probability'"):
        assert f"unknown key {key}" in message


def test_wrong_types_and_ranges_are_reported(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE),
                    ["data.batch_size=four", "trainer.precision=16", "data.skip_bad_files=maybe"])
    message = str(info.value)
    assert "'data.batch_size': expected int, got 'four'" in message
    assert "'trainer.precision'" in message and "'16-mixed'" in message
    assert "'data.skip_bad_files'" in message
    with pytest.raises(ConfigError, match="'data.overlap' must be in"):
        load_config(write(tmp_path, BASE), ["data.overlap=1.5"])
    with pytest.raises(ConfigError, match="'augment.gain.min_db'"):
        load_config(write(tmp_path, BASE), ["augment.gain.min_db=10", "augment.gain.max_db=0"])


def test_missing_manifests_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="data.train_manifest' is required"):
        load_config(None, [])
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)
    with pytest.raises(ConfigError, match="expected KEY.SUB=VALUE"):
        load_config(write(tmp_path, BASE), ["optim.head_lr"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["trainer.devices=[0, 1]"])
    resolved = resolved_config(cfg)
    assert resolved["trainer"]["devices"] == [0, 1]
    assert resolved["augment"]["mixup"]["alpha"] == 0.4
    again = load_config(write(tmp_path, yaml.safe_load(yaml.safe_dump(resolved))))
    assert again == cfg

"""The foreign split: held-out device families and bank groups only; the others never touch them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio_artifacts.cli import main
from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.simulate.bank import BANK_KINDS, StimulusBank
from audio_artifacts.simulate.dataset import write_dataset
from audio_artifacts.simulate.device import FOREIGN_FAMILIES, TRAIN_FAMILIES
from audio_artifacts.simulate.recording import SimulatorConfig
from audio_artifacts.simulate.stimuli import BANK_STIMULI, STIMULI


def _bank_config(bank_dir: Path) -> SimulatorConfig:
    # Mostly bank stimuli, so every split reads clips; short files keep it fast.
    kinds = ("quiet", "tones") + BANK_KINDS
    return SimulatorConfig(duration_s=(1.0, 1.5), short_fraction=0.3, short_duration_s=(0.5, 1.0), bank_dir=bank_dir,
                           stimuli=kinds, stimulus_weights=(0.1, 0.1) + (1.0,) * len(BANK_KINDS))


@pytest.fixture(scope="module")
def foreign_dataset(tmp_path_factory: pytest.TempPathFactory, bank_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("foreign")
    write_dataset(out, 12, seed=6, config=_bank_config(bank_dir), split=True, foreign=8)
    return out


def test_foreign_split_uses_only_held_out_families_and_foreign_clips(foreign_dataset: Path, bank_dir: Path) -> None:
    bank = StimulusBank.open(bank_dir)
    group_of = {clip.path.relative_to(bank.directory).as_posix(): clip.split_group for kind in bank.kinds
                for clip in bank.clips(kind, "all")}
    seen_bank = {"train": 0, "foreign": 0}
    for split in ("train", "val", "test", "foreign"):
        entries = read_manifest(foreign_dataset / f"{split}.csv")
        assert entries and all(e.path.parent == foreign_dataset / "audio" / split for e in entries)
        families = {e.columns["family"] for e in entries}
        assert families <= set(FOREIGN_FAMILIES if split == "foreign" else TRAIN_FAMILIES), (split, families)
        for e in entries:
            clips = json.loads(e.columns["stimulus_params"]).get("clips", [])
            if e.columns["stimulus"] in BANK_KINDS and e.columns["stimulus"] != "ists":
                assert clips and e.columns["stimulus_source"] not in ("synthetic", "none")
            groups = {group_of[c] for c in clips}
            if split == "foreign":
                assert groups <= {"foreign"}
                seen_bank["foreign"] += bool(groups)
            else:
                assert "foreign" not in groups
                seen_bank["train"] += bool(groups)
    assert seen_bank["foreign"] and seen_bank["train"]
    # The foreign seeds are their own.
    foreign_seeds = {e.columns["seed"].split("/")[1] for e in read_manifest(foreign_dataset / "foreign.csv")}
    assert foreign_seeds == {"4"}


def test_foreign_dataset_is_deterministic_across_workers(tmp_path: Path, bank_dir: Path, dataset_digest) -> None:
    config = _bank_config(bank_dir)
    write_dataset(tmp_path / "a", 4, seed=2, config=config, split=True, foreign=3)
    write_dataset(tmp_path / "b", 4, seed=2, config=config, split=True, foreign=3, workers=2)
    a, b = dataset_digest(tmp_path / "a"), dataset_digest(tmp_path / "b")
    wavs = [name for name in a if name.endswith(".wav")]
    assert len(wavs) + sum(name.endswith(".csv") for name in a) == 4 + 3 + 4 and a == b  # stimuli: FLACs besides


def test_default_stimulus_tables_with_and_without_a_bank(bank_dir: Path) -> None:
    assert SimulatorConfig().stimuli == STIMULI
    config = SimulatorConfig(bank_dir=bank_dir)
    assert config.stimuli == BANK_STIMULI and set(BANK_KINDS) <= set(config.stimuli)
    weights = dict(zip(config.stimuli, config.stimulus_weights))
    assert 0.25 <= weights["quiet"] / sum(weights.values()) <= 0.3
    assert weights["speech"] >= 0.1 and weights["music"] >= 0.1
    with pytest.raises(ValueError, match="bank"):
        SimulatorConfig(stimuli=("ists",), stimulus_weights=(1.0,))


def test_cli_foreign_and_stimuli(tmp_path: Path, bank_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["simulate", str(out), "--n", "3", "--split", "--foreign", "2", "--stimuli", str(bank_dir),
                 "--duration", "1", "1.2", "--short-fraction", "0.5", "--quiet"])
    assert code == 0
    assert len(read_manifest(out / "foreign.csv")) == 2
    assert "foreign: 2 recordings" in capsys.readouterr().out
    assert main(["simulate", str(tmp_path / "bad"), "--n", "3", "--stimuli", str(tmp_path / "nowhere"),
                 "--quiet"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "neg"), "--n", "3", "--foreign", "-1", "--quiet"]) == 2


@pytest.mark.parametrize("kind", BANK_KINDS)
def test_artifacts_occur_under_every_bank_kind(kind: str, bank_dir: Path) -> None:
    from audio_artifacts.simulate.recording import bank_kinds_for, simulate_recording

    config = SimulatorConfig(duration_s=(1.0, 1.5), short_fraction=0.0, artifact_fraction=1.0, bank_dir=bank_dir,
                             stimuli=(kind,), stimulus_weights=(1.0,))
    splits = [split for split in ("train", "foreign") if kind in bank_kinds_for(config.bank_dir, split)]
    assert splits
    for split in splits:
        recording = simulate_recording(config, 3, split, 0, 2)
        assert recording.stimulus == kind and recording.label == 1
        assert recording.stimulus_source not in ("synthetic", "none")

"""``audio-artifacts simulate`` end to end: files, manifests, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_artifacts.cli import main
from audio_artifacts.data.manifest import read_manifest


def test_cli_writes_split_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    code = main(["simulate", str(out), "--n", "6", "--seed", "5", "--split", "--duration", "1", "2", "--short-fraction", "0",
                 "--artifact-fraction", "1.0", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "recordings/s" in printed
    total = 0
    for split in ("train", "val", "test"):
        entries = read_manifest(out / f"{split}.csv")
        total += len(entries)
        assert all(e.path.is_file() and e.path.parent == out / "audio" / split for e in entries)
        for e in entries:
            assert 1.0 <= float(e.columns["duration_s"]) <= 2.1
    assert total == 6
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["test", "train", "val"]


def test_cli_without_split_writes_one_manifest(tmp_path: Path) -> None:
    out = tmp_path / "flat"
    assert main(["simulate", str(out), "--n", "2", "--duration", "1", "1.5", "--artifact-fraction", "0",
                 "--quiet"]) == 0
    entries = read_manifest(out / "manifest.csv")
    assert len(entries) == 2 and all(e.label == 0 and e.events == () for e in entries)


@pytest.mark.parametrize("arguments", [
    ["--n", "0"],
    ["--n", "2", "--duration", "5", "1"],
    ["--n", "2", "--artifact-fraction", "2"],
    ["--n", "2", "--split"],
])
def test_cli_rejects_bad_arguments_with_exit_2(tmp_path: Path, arguments: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "x"), "--quiet", *arguments]) == 2
    assert "error" in capsys.readouterr().err

"""An attention model's directory scans from the command line and serves over HTTP like the fast model's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import torch

from audio_artifacts.inference.detector import Detector
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.models.registry import build_model
from audio_artifacts.windows import WindowSpec

from .conftest import CLI
from .test_service_http import post_file, same_result

# small enough for a CPU test; the architecture and its code paths are the full model's
ARGUMENTS = {"d_model": 16, "layers": 1, "heads": 2, "feedforward": 32}


@pytest.fixture(scope="module")
def attention_dir(tmp_path_factory: pytest.TempPathFactory, recordings: dict[str, Path]) -> Path:
    torch.manual_seed(0)
    model = build_model("spectrogram_transformer", **ARGUMENTS)
    directory = tmp_path_factory.mktemp("attention-model")
    info = ModelInfo(name="attention-test", version="1", architecture="spectrogram_transformer",
                     arguments=model.arguments(), sample_rate=32000, window=WindowSpec(), threshold=0.5,
                     package_version="test")
    save_model_dir(directory, model, info)
    # the threshold between the two middle probabilities: both verdicts occur
    probabilities = sorted(Detector(directory, backend="torch").scan_file(p).probability for p in recordings.values())
    middle = len(probabilities) // 2
    info.threshold = float((probabilities[middle - 1] + probabilities[middle]) / 2)
    save_model_dir(directory, model, info)
    return directory


def test_an_attention_model_scans_and_serves_the_same_rows(attention_dir: Path, recordings: dict[str, Path],
                                                           tmp_path: Path, launch) -> None:
    detector = Detector(attention_dir, backend="torch")
    reference = {name: detector.scan_file(path, display_name=name).to_dict() for name, path in recordings.items()}
    assert {row["verdict"] for row in reference.values()} == {"artifact", "no_artifact"}

    out = tmp_path / "rows.jsonl"
    done = subprocess.run([*CLI, "scan", *map(str, recordings.values()), "--model", str(attention_dir),
                           "--backend", "torch", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {Path(row["path"]).name: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows.keys() == reference.keys()
    for name, row in rows.items():
        assert row["verdict"] == reference[name]["verdict"]
        assert row["probability"] == pytest.approx(reference[name]["probability"], abs=1e-6)

    srv = launch(["--model", str(attention_dir), "--backend", "torch"])
    with httpx.Client(base_url=srv.base_url, timeout=120.0) as client:
        health = client.get("/health").json()
        assert health["model"]["name"] == "attention-test"
        for name, path in recordings.items():
            response = post_file(client, path)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["verdict"] == reference[name]["verdict"]
            assert answer["probability"] == pytest.approx(reference[name]["probability"], abs=1e-6)
            assert same_result({k: v for k, v in answer.items() if k != "identity"},
                               {k: v for k, v in reference[name].items() if k != "identity"})

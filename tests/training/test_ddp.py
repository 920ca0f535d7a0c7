"""Two-process DDP training on CPU (gloo) through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audio_artifacts.models.model_dir import load_model_dir


# The fast model in float32, and an attention model (as tests/training/test_train_attention.py
# sizes it) in bf16 mixed precision: the recipe runs both unchanged.
CASES = {
    "fast": ({}, "32-true"),
    "spectrogram_transformer": ({"name": "spectrogram_transformer", "arguments": {
        "sample_rate": 16000, "fmax": 8000.0, "window_size": 512, "hop_size": 256,
        "d_model": 16, "layers": 1, "heads": 2, "feedforward": 32}}, "bf16-mixed"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_two_process_ddp_on_cpu_shares_the_epoch(case, tiny_config, write_config, tmp_path):
    script = shutil.which("audio-artifacts") or str(Path(sys.executable).parent / "audio-artifacts")
    if not Path(script).is_file():
        pytest.skip("console script audio-artifacts not installed (pip install -e .)")
    model, precision = CASES[case]
    path = write_config(tiny_config(model=model) if model else tiny_config())
    run_dir = tmp_path / "ddp"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # Lightning's launcher re-runs this very command line once per extra process
    done = subprocess.run(
        [sys.executable, script, "train", "--config", str(path), "--out", str(run_dir),
         "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
         f"trainer.precision={precision}"],
        capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stderr + done.stdout
    fit = json.loads((run_dir / "metrics.json").read_text())["fit"]
    # 12 training windows, 6 per rank, batch 2: 3 steps (one process would take 6)
    assert fit["global_step"] == 3
    loaded, info = load_model_dir(run_dir / "model")
    assert info.architecture == (model.get("name") or "fast")
    assert info.metrics["val_window_n"] == 8  # the threshold was chosen on all validation windows

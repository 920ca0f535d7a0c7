"""The training recipe runs the attention models unchanged: freezing, two lr groups, SpecAugment."""

from __future__ import annotations

import pytest
import torch

from audio_artifacts.models.model_dir import load_model_dir
from audio_artifacts.training.config import config_from_dict
from audio_artifacts.training.train import train

FRONT_END = {"sample_rate": 16000, "fmax": 8000.0}
ARGUMENTS = {
    # a frozen trunk except fc1 and the last block: both parameter groups train
    "cnn14_att": dict(FRONT_END, window_size=512, hop_size=256, channels=[8, 16],
                      freeze_backbone=True, unfreeze_last=2),
    "spectrogram_transformer": dict(FRONT_END, window_size=512, hop_size=256,
                                    d_model=16, layers=1, heads=2, feedforward=32),
    "wavegram_att": dict(FRONT_END, channels=[8, 16], d_model=16, layers=1, heads=2, feedforward=32),
}


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_an_attention_model_trains_and_its_model_dir_reloads(name, tiny_config, tmp_path):
    raw = tiny_config(model={"name": name, "arguments": ARGUMENTS[name]},
                      augment={"spec_augment": {"p": 1.0, "max_time_frames": 4, "max_freq_bins": 4}})
    model_dir = train(config_from_dict(raw), tmp_path / "run")
    model, info = load_model_dir(model_dir)
    assert info.architecture == name and model.spec_augment is None
    batch = torch.randn(2, 2 * 16000) * 0.01
    with torch.inference_mode():
        logits = model(batch, torch.tensor([32000, 12000]))
        frames = model.frame_probabilities(batch)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    assert frames.shape[0] == 2 and frames.shape[1] >= 2

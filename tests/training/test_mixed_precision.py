"""Mixed precision: the log-mel front end stays finite and exact under float16 autocast
(found on an H100: a full-scale tone's power overflows float16 and training went NaN)."""

from __future__ import annotations

import torch

from audio_artifacts.features import LogMel


def test_log_mel_of_a_full_scale_tone_is_float32_under_fp16_autocast():
    front_end = LogMel()
    t = torch.arange(32000) / 32000
    tone = torch.sin(2 * torch.pi * 1000 * t).repeat(2, 1)
    reference = front_end(tone)
    with torch.autocast("cpu", dtype=torch.float16):
        mixed = front_end(tone)
    assert mixed.dtype == torch.float32
    assert torch.isfinite(mixed).all()
    assert torch.allclose(mixed, reference)

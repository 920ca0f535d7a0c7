"""Attention-based artifact detectors with frame-level outputs (issue 11).

`Cnn14Attention` (``cnn14_att``), `SpectrogramTransformer`
(``spectrogram_transformer``) and `WavegramAttention` (``wavegram_att``):
waveform ``(B, samples)`` -> logits ``(B,)``, plus ``frame_probabilities``.
"""

from audio_artifacts.models.attention.cnn14_att import Cnn14Attention
from audio_artifacts.models.attention.spectrogram_transformer import SpectrogramTransformer
from audio_artifacts.models.attention.wavegram_att import WavegramAttention

__all__ = ["Cnn14Attention", "SpectrogramTransformer", "WavegramAttention"]

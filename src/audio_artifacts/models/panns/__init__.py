"""PANNs backbones (Kong et al. 2020) on our FFT log-mel front end.

`Cnn14`, `ResNet54` and `WavegramLogmelCnn14` have the official
checkpoints' state-dict layout; `load_panns_checkpoint` loads those files
strictly and safely.
"""

from audio_artifacts.models.panns.base import EMBEDDING_SIZE, PannsBackbone
from audio_artifacts.models.panns.checkpoint import load_panns_checkpoint, read_state_dict
from audio_artifacts.models.panns.cnn14 import Cnn14
from audio_artifacts.models.panns.resnet54 import ResNet54
from audio_artifacts.models.panns.wavegram import WavegramLogmelCnn14

__all__ = [
    "EMBEDDING_SIZE",
    "Cnn14",
    "PannsBackbone",
    "ResNet54",
    "WavegramLogmelCnn14",
    "load_panns_checkpoint",
    "read_state_dict",
]

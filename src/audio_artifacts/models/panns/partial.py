"""Start part of a model from an official PANNs checkpoint: the matching keys only.

The attention models keep PANNs' layers (front end ``bn0``, conv blocks, the
wavegram branch) in a *trunk* whose state-dict keys are the checkpoint's
own names, and add layers PANNs never had. `load_matching_keys` fills the
trunk from a checkpoint and says which checkpoint keys it used and which it
left (the blocks the model replaced, PANNs' AudioSet head). Every trunk key
must be in the checkpoint with its shape: a trunk loaded half-way would be
a silent mix of pretrained and random layers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from audio_artifacts.errors import CheckpointError
from audio_artifacts.models.panns.checkpoint import fit_problems, listing, network_weights, read_state_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartialLoad:
    """What `load_matching_keys` did.

    Attributes
    ----------
    path : str
        The checkpoint file.
    used : tuple of str
        Checkpoint keys loaded into the trunk (checkpoint order).
    left : tuple of str
        Checkpoint keys the trunk has no place for, not loaded (the front
        end's STFT basis and mel matrix are checked, and counted in neither).
    """

    path: str
    used: tuple[str, ...]
    left: tuple[str, ...]

    def summary(self) -> str:
        """One line: how many keys were used and which were left."""
        return (f"{self.path}: loaded {len(self.used)} keys ({listing(list(self.used))}); "
                f"left {len(self.left)} ({listing(list(self.left)) or 'none'})")


def load_matching_keys(trunk: nn.Module, path: str | Path) -> PartialLoad:
    """Load every key of ``trunk`` from the PANNs checkpoint at ``path``; report the rest.

    Parameters
    ----------
    trunk
        A module with a `LogMel` front end (``logmel``) whose state-dict keys
        are official PANNs names (``bn0.weight``, ``conv_block1.conv1.weight`` ...).
    path
        Official ``.pth`` checkpoint (read with ``weights_only=True``), plain
        state-dict file or ``.safetensors``.

    Returns
    -------
    PartialLoad
        The keys used and left; also logged at INFO level.

    Raises
    ------
    CheckpointError
        Unreadable file; front end of another configuration; trunk keys the
        checkpoint lacks or holds with another shape (listed: another
        architecture's checkpoint, or changed channel widths).
    """
    path = Path(path)
    weights = network_weights(path, trunk, read_state_dict(path))
    expected = trunk.state_dict()
    problems = fit_problems(expected, weights, unexpected=False)
    if problems:
        raise CheckpointError(
            f"{path}: checkpoint does not fit the PANNs layers of {type(trunk).__name__} "
            f"(another architecture, or other channel widths?); " + "; ".join(problems)
        )
    trunk.load_state_dict({k: weights[k] for k in expected}, strict=True)
    report = PartialLoad(
        path=str(path),
        used=tuple(k for k in weights if k in expected),
        left=tuple(k for k in weights if k not in expected),
    )
    log.info("%s", report.summary())
    return report

"""Freezing a pretrained part of a model, and keeping its BatchNorm statistics frozen too.

Shared by every model with a ``freeze_backbone`` / ``unfreeze_last`` recipe.
"""

from __future__ import annotations

from torch import nn


def check_freezing(freeze_backbone: bool, unfreeze_last: int, blocks: tuple[str, ...]) -> None:
    """ValueError unless ``unfreeze_last`` is 0 .. ``len(blocks)`` and only given with a frozen backbone."""
    if isinstance(unfreeze_last, bool) or not isinstance(unfreeze_last, int) or not (
        0 <= unfreeze_last <= len(blocks)
    ):
        raise ValueError(
            f"unfreeze_last must be an integer from 0 to {len(blocks)} "
            f"({', '.join(blocks)}), got {unfreeze_last!r}"
        )
    if not freeze_backbone and unfreeze_last:
        raise ValueError(
            "unfreeze_last only applies to a frozen backbone; with freeze_backbone=False "
            "every backbone block trains, so set unfreeze_last=0"
        )


def set_trainable(module: nn.Module, freeze: bool, unfrozen: tuple[str, ...] = (),
                  never: tuple[str, ...] = ()) -> None:
    """Set ``requires_grad`` of ``module``'s parameters.

    Parameters
    ----------
    module
        The part to (un)freeze, e.g. a pretrained backbone.
    freeze
        Freeze every parameter except those under the ``unfrozen`` prefixes;
        False: everything trains.
    unfrozen
        Submodule names (``"conv_block6"``) that train in a frozen module.
    never
        Name prefixes that never train (layers off the output's path: DDP
        rejects trainable parameters that get no gradient).
    """
    for name, parameter in module.named_parameters():
        if never and name.startswith(never):
            parameter.requires_grad_(False)
        elif freeze:
            parameter.requires_grad_(any(name.startswith(block + ".") for block in unfrozen))
        else:
            parameter.requires_grad_(True)


def keep_frozen_batchnorm_in_eval(module: nn.Module) -> None:
    """Put the BatchNorm layers of ``module`` whose parameters are all frozen in eval mode.

    Called after ``train(True)``: otherwise each training batch would replace
    the pretrained normalisation statistics with batch statistics and keep
    updating the running averages, so a "frozen" backbone would still drift
    towards our small, artifact-heavy batches.
    """
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in layer.parameters()
        ):
            layer.eval()

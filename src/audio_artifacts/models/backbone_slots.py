"""What every model built around a ``backbone`` submodule shares with the training recipe.

The SpecAugment slot lives on the backbone (it masks the backbone's log-mel
map); frozen BatchNorm layers of the backbone stay in eval mode while the
model trains (see `keep_frozen_batchnorm_in_eval`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from audio_artifacts.models.freezing import keep_frozen_batchnorm_in_eval


class BackboneSlots:
    """Mixin for an ``nn.Module`` with a ``backbone`` that has a ``spec_augment`` slot.

    List it before ``nn.Module`` in the bases.
    """

    backbone: nn.Module

    @property
    def spec_augment(self) -> nn.Module | None:
        """The backbone's SpecAugment slot (applied to its log-mel map while training)."""
        return self.backbone.spec_augment

    def __setattr__(self, name: str, value: Any) -> None:
        # nn.Module.__setattr__ would register a module here instead of calling
        # the property setter; route the slot to the backbone explicitly.
        if name == "spec_augment":
            self.backbone.spec_augment = value
            return
        super().__setattr__(name, value)

    def train(self, mode: bool = True) -> Any:
        """Set train/eval mode; the backbone's frozen BatchNorm layers always stay in eval mode."""
        super().train(mode)  # type: ignore[misc]
        if mode:
            keep_frozen_batchnorm_in_eval(self.backbone)
        return self

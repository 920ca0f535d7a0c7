"""Training: config dataclasses, LightningModule, DataModule and ``train()``."""

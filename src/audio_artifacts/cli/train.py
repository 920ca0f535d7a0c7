"""``audio-artifacts train --config configs/NAME.yaml [--out DIR] [KEY.SUB=VALUE ...]``."""

from __future__ import annotations

import argparse
import shlex
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="YAML",
                        help="experiment file, e.g. configs/default.yaml")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run directory (default: OUT_DIR/NAME from the config); "
                             "the model directory is DIR/model")
    parser.add_argument("overrides", nargs="*", metavar="KEY.SUB=VALUE",
                        help="config overrides, e.g. optim.head_lr=1e-3 trainer.devices=2")
    parser.epilog = ("Examples: audio-artifacts train --config configs/default.yaml trainer.max_epochs=5; "
                     "fine-tune: --config configs/cnn14.yaml model.pretrained=Cnn14_mAP=0.431.pth")


def run(args: argparse.Namespace) -> int:
    from audio_artifacts.training.config import load_config
    from audio_artifacts.training.train import train

    for item in args.overrides:
        if "=" not in item:
            print(f"audio-artifacts train: error: override {item!r} needs KEY.SUB=VALUE", file=sys.stderr)
            return 2
    cfg = load_config(args.config, args.overrides)
    out = ["--out", args.out] if args.out else []
    command = "audio-artifacts train " + shlex.join(["--config", args.config, *out, *args.overrides])
    model_dir = train(cfg, args.out, command=command)
    print(f"model directory: {model_dir}")
    return 0

"""``audio-artifacts train --config configs/NAME.yaml [--out DIR] [--name NAME] [--resume [CKPT]]
[--find-lr] [KEY.SUB=VALUE ...]``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="YAML",
                        help="experiment file, e.g. configs/default.yaml")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run directory (default: OUT_DIR/NAME from the config); "
                             "the model directory is DIR/model")
    parser.add_argument("--name", default=None,
                        help="the model's name (default: the config's `name`); scan rows, /health "
                             "and evaluate show it")
    parser.add_argument("--version", dest="model_version", default=None, metavar="VERSION",
                        help="the model's version (default: the config's `version`, else the UTC "
                             "start time YYYYMMDD.HHMMSS)")
    parser.add_argument("--resume", nargs="?", const="last", default=None, metavar="CKPT",
                        help="continue from a Lightning checkpoint; without a value: the run "
                             "directory's checkpoints/last.ckpt")
    parser.add_argument("--find-lr", action="store_true",
                        help="run Lightning's learning-rate finder instead of training: prints the "
                             "suggestion, writes lr_find.png / lr_find.json into the run directory")
    parser.add_argument("--lr-steps", type=int, default=100, metavar="N",
                        help="optimiser steps of the LR search (default 100)")
    parser.add_argument("overrides", nargs="*", metavar="KEY.SUB=VALUE",
                        help="config overrides, e.g. optim.head_lr=1e-3 trainer.devices=2")
    parser.epilog = ("Examples: audio-artifacts train --config configs/default.yaml trainer.max_epochs=5; "
                     "fine-tune: --config configs/cnn14.yaml model.pretrained=Cnn14_mAP=0.431.pth")


def run(args: argparse.Namespace) -> int:
    from audio_artifacts.training.config import load_config
    from audio_artifacts.training.train import run_directory, train

    if args.resume is not None and "=" in args.resume and not Path(args.resume).exists():
        # `--resume trainer.max_epochs=5`: argparse gave the override to --resume
        args.overrides.insert(0, args.resume)
        args.resume = "last"
    for item in args.overrides:
        if "=" not in item:
            print(f"audio-artifacts train: error: override {item!r} needs KEY.SUB=VALUE", file=sys.stderr)
            return 2
    cfg = load_config(args.config, args.overrides)
    if args.name is not None:  # plain strings: not parsed as YAML like the overrides
        cfg.name = args.name
    if args.model_version is not None:
        cfg.version = args.model_version
    if args.resume is not None:
        resume = args.resume
        if resume == "last":
            resume = str(run_directory(cfg, args.out) / "checkpoints" / "last.ckpt")
        cfg.trainer.resume = resume
    if args.find_lr:
        from audio_artifacts.training.lr_find import find_learning_rate

        result = find_learning_rate(cfg, args.out, steps=args.lr_steps)
        if result.suggestion is None:
            print("learning-rate finder: no suggestion (loss curve too short or flat; try more --lr-steps)")
        else:
            print(f"suggested learning rate: {result.suggestion:.3g} (for optim.max_head_lr / "
                  f"optim.max_backbone_lr with the one-cycle schedule, optim.*_lr with a constant one)")
        print(f"curve: {result.curve}" + (f", plot: {result.plot}" if result.plot else ""))
        return 0
    out = ["--out", args.out] if args.out else []
    extra = [*(["--name", args.name] if args.name else []),
             *(["--version", args.model_version] if args.model_version else []),
             *(["--resume", args.resume] if args.resume else [])]
    command = "audio-artifacts train " + shlex.join(["--config", args.config, *out, *extra, *args.overrides])
    model_dir = train(cfg, args.out, command=command)
    print(f"model directory: {model_dir}")
    return 0

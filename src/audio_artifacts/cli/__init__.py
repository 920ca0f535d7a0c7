"""The ``audio-artifacts`` command: a thin dispatcher over one module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``
and is imported only when its command runs, so ``scan`` never pays for
Lightning and ``serve`` never pays for training code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from audio_artifacts import __version__
from audio_artifacts.errors import AudioArtifactsError

# command name -> (module, one-line help). Explicit, no discovery magic.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("audio_artifacts.cli.simulate", "write simulated, labelled hearing-aid test recordings"),
    "train": ("audio_artifacts.cli.train", "train or fine-tune a detector from a YAML config"),
    "sweep": ("audio_artifacts.cli.sweep", "tune hyper-parameters with Optuna, one training run per trial"),
    "evaluate": ("audio_artifacts.cli.evaluate", "evaluate model directories on a labelled manifest"),
    "scan": ("audio_artifacts.cli.scan", "scan recordings for artifacts (bundled model by default)"),
    "export": ("audio_artifacts.cli.export", "export a model directory to ONNX with a parity check"),
    "serve": ("audio_artifacts.cli.serve", "run the HTTP inference service"),
}


def build_parser() -> argparse.ArgumentParser:
    """Parser with every subcommand; subcommand modules add their own arguments."""
    parser = argparse.ArgumentParser(
        prog="audio-artifacts",
        description="Find artifacts in hearing-aid test recordings.",
    )
    parser.add_argument("--version", action="version", version=f"audio-artifacts {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            sub_parser.set_defaults(_module=None)
            continue
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        words = list(sys.argv[1:] if argv is None else argv)
        hint = _override_hint(args.command, unknown, words) if args.command in ("train", "sweep") else None
        if hint is None:
            parser.parse_args(argv)  # argparse's own message and exit code 2
        print(f"audio-artifacts {args.command}: error: {hint}", file=sys.stderr)
        return 2
    if args._module is None:
        parser.error(f"command '{args.command}' is not available in this build")
    try:
        return int(args._module.run(args))
    except AudioArtifactsError as exc:
        print(f"audio-artifacts {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _override_hint(command: str, unknown: list[str], words: list[str]) -> str | None:
    """For ``train --devices 2``: name the config override meant (``trainer.devices=2``)."""
    import dataclasses
    import typing

    from audio_artifacts.training.config import TrainConfig

    sections = typing.get_type_hints(TrainConfig)
    hints = []
    for item in unknown:
        if not item.startswith("--"):
            continue
        name, _, value = item[2:].partition("=")
        key = name.replace("-", "_")
        after = words.index(item) + 1 if item in words else len(words)
        if not value and after < len(words) and not words[after].startswith("-") and "=" not in words[after]:
            value = words[after]
        owners = [section for section, kind in sections.items() if dataclasses.is_dataclass(kind)
                  and key in {f.name for f in dataclasses.fields(kind)}]
        if key in sections and not dataclasses.is_dataclass(sections[key]):
            owners = [""]
        if not owners:
            return None
        dotted = " or ".join(f"{o + '.' if o else ''}{key}={value or 'VALUE'}" for o in owners)
        hints.append(f"{item} is not an option of `{command}`; config values are set as overrides: "
                     f"write {dotted}")
    return "; ".join(hints) or None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

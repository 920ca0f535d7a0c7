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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

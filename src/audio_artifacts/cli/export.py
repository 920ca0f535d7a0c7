"""``audio-artifacts export MODEL_DIR --onnx OUT``: ONNX export with a parity check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _opset(text: str) -> int:
    value = int(text)
    if value < 17:
        raise argparse.ArgumentTypeError(f"must be >= 17 (the FFT front ends need DFT), got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="model directory to export")
    parser.add_argument("--onnx", type=Path, required=True, metavar="OUT", help="ONNX file to write")
    parser.add_argument(
        "--copy-into-model-dir",
        action="store_true",
        help="also copy the file into MODEL_DIR as model.onnx (then scans pick ONNX Runtime)",
    )
    parser.add_argument("--opset", type=_opset, default=18, help="ONNX opset (>= 17; default 18)")
    parser.add_argument(
        "--logit-tolerance", type=float, default=1e-2, help="max |logit diff| ORT vs torch (default 1e-2)"
    )
    parser.add_argument(
        "--probability-tolerance",
        type=float,
        default=1e-3,
        help="max |probability diff| ORT vs torch (default 1e-3)",
    )
    parser.add_argument("--json", action="store_true", help="print the parity report as JSON")


def run(args: argparse.Namespace) -> int:
    from audio_artifacts.inference.export import export_onnx, install_onnx

    report = export_onnx(
        args.model_dir,
        args.onnx,
        opset=args.opset,
        logit_tolerance=args.logit_tolerance,
        probability_tolerance=args.probability_tolerance,
    )
    installed = install_onnx(args.onnx, args.model_dir) if args.copy_into_model_dir else None
    if args.json:
        data = report.to_dict()
        data["installed"] = None if installed is None else str(installed)
        print(json.dumps(data, indent=2))
    else:
        print(report.summary())
        print("parity           OK")
        if installed is not None:
            print(f"installed as     {installed}")
    return 0

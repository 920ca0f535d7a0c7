"""``audio-artifacts scan``: scan recordings for artifacts and report every one.

Inputs are files, folders (searched for audio files, recursively by default)
and glob patterns (expanded here, so they work from Windows shells too). A
directory whose name ends in an audio extension is scanned as a file and so
reported as an error row, like every other broken input.

Output contract
---------------
* ``--out FILE.jsonl``: one JSON object per recording (`reports.ScanResult`),
  written, flushed and fsync'ed as each recording finishes.
* ``--format csv``: the flat CSV summary instead (``--out`` ending in ``.csv``
  implies it). With ``--format`` but no ``--out`` the rows go to stdout.
* No ``--out`` and no ``--format``: a readable table on stdout.
* ``--resume``: recordings already in ``--out`` are skipped, new rows are
  appended (a row torn by a crash is dropped and its recording scanned again).

Exit codes
----------
0 every recording scanned; 1 some recordings could not be scanned (each has
an error row, all others are reported); 2 usage errors (bad options, nothing
to scan, unusable model); 3 with ``--fail-on-artifact`` when any verdict is
``artifact``. 3 takes precedence over 1: an artifact found is a definite
finding about a device, while the failed files are listed in the output
either way. With ``--resume`` the code covers the rows already in the file too,
so it is the same as for one uninterrupted run.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

# reports is light (standard library only); the model stack is imported in run only.
from audio_artifacts.reports import CSV_COLUMNS

#: Extensions (lower case) collected from folders and globs.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
    ".aifc", ".w64", ".rf64", ".caf", ".au", ".snd",
})

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ARTIFACT = 0, 1, 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``audio-artifacts scan``."""
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="recordings, folders of recordings, or glob patterns (quoted)")
    parser.add_argument("--model", metavar="DIR", default=None,
                        help="model directory (default: the bundled default model)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                        help=("inference backend (default: auto = model.onnx in ONNX Runtime when present, "
                              "except the fast default model, which is quicker in torch)"))
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="write results here as each recording finishes (.jsonl, or .csv summary)")
    parser.add_argument("--format", choices=("jsonl", "csv"), default=None,
                        help="output format (default: from --out's extension, jsonl otherwise; "
                             "a table on the terminal when neither is given)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="decision threshold on the probability in [0, 1] (default: the model's)")
    parser.add_argument("--resume", action="store_true",
                        help="skip recordings already in --out and append the others")
    parser.add_argument("--fail-on-artifact", action="store_true",
                        help="exit with code 3 when any recording's verdict is artifact")
    parser.add_argument("--plots", metavar="DIR", default=None,
                        help="write a spectrogram + probability PNG per flagged recording here")
    parser.add_argument("--plots-all", action="store_true",
                        help="with --plots: a picture for every scanned recording, not only flagged ones")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="search folders recursively (default: yes)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="compute threads of the model backend (default: the backend's choice)")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N",
                        help="windows per model call (default: 16; larger batches raise peak memory)")


def _usage_error(message: str) -> int:
    print(f"audio-artifacts scan: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _has_audio_extension(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _walk(folder: Path, recursive: bool) -> list[Path]:
    """Audio files under ``folder``, sorted; directories named like audio files included.

    Hidden names (starting with ".") are skipped, like a shell glob does: archives
    copied from macOS are full of ``._name.wav`` resource forks that are not audio.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        found.extend(here / name for name in files
                     if _has_audio_extension(Path(name)) and not name.startswith("."))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        named_like_audio = [d for d in dirs if _has_audio_extension(Path(d))]
        found.extend(here / d for d in named_like_audio)  # reported as error rows
        dirs[:] = sorted(d for d in dirs if d not in named_like_audio) if recursive else []
    return sorted(found)


def expand_inputs(patterns: list[str], recursive: bool = True) -> tuple[list[Path], list[str]]:
    """Turn the command line's PATHs into the recordings to scan.

    Returns
    -------
    paths : list of Path
        In command-line order, folders and globs sorted, duplicates removed.
        A PATH that names nothing is kept, so it gets an error row.
    warnings : list of str
        Folders and patterns that matched no audio file.
    """
    paths: list[Path] = []
    warnings: list[str] = []
    for pattern in patterns:
        candidate = Path(pattern)
        if candidate.is_dir() and not _has_audio_extension(candidate):
            found = _walk(candidate, recursive)
            if not found:
                warnings.append(f"{pattern}: no audio files in this folder")
            paths.extend(found)
        elif not os.path.lexists(pattern) and glob.has_magic(pattern):
            found = []
            for match in sorted(glob.glob(pattern, recursive=recursive)):
                match_path = Path(match)
                if match_path.is_dir() and not _has_audio_extension(match_path):
                    found.extend(_walk(match_path, recursive))
                elif _has_audio_extension(match_path):
                    found.append(match_path)
            if not found:
                warnings.append(f"{pattern}: no audio files match this pattern")
            paths.extend(found)
        else:
            paths.append(candidate)  # a file, or a missing path (error row)
    unique: dict[str, Path] = {}
    for path in paths:
        unique.setdefault(os.path.abspath(path), path)
    return list(unique.values()), warnings


def _plot_name(path: Path, used: set[str]) -> str:
    """``<stem>.png``, made unique within one run (same stems from different folders)."""
    name, n = f"{path.stem}.png", 1
    while name in used:
        n += 1
        name = f"{path.stem}-{n}.png"
    used.add(name)
    return name


def run(args: argparse.Namespace) -> int:
    """Scan every input; returns the exit code (see the module docstring)."""
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        return _usage_error(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.batch_size < 1:
        return _usage_error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 1:
        return _usage_error(f"--workers must be >= 1, got {args.workers}")
    if args.resume and args.out is None:
        return _usage_error("--resume needs --out (the file to resume)")
    if args.plots_all and args.plots is None:
        return _usage_error("--plots-all needs --plots DIR")
    out = Path(args.out) if args.out is not None else None
    if out is not None and out.is_dir():
        return _usage_error(f"--out {out} is a folder; give a file name")
    fmt = args.format or ("csv" if out is not None and out.suffix.lower() == ".csv" else None)
    if out is not None and fmt is None:
        fmt = "jsonl"

    paths, warnings = expand_inputs(args.paths, recursive=args.recursive)
    for warning in warnings:
        print(f"audio-artifacts scan: warning: {warning}", file=sys.stderr)
    if not paths:
        return _usage_error("no recordings found in: " + ", ".join(args.paths))

    previous = _previous_outcomes(out, fmt) if args.resume else {}
    if args.resume and not previous and not _holds_no_rows_yet(out, fmt):
        return _usage_error(f"--resume: {out} holds no {fmt} scan results; not appending to it")
    todo = [p for p in paths if not ({str(p), os.path.abspath(p)} & previous.keys())]
    if args.resume and len(todo) < len(paths):
        print(f"audio-artifacts scan: resuming: {len(paths) - len(todo)} of {len(paths)} "
              f"recording(s) already in {out}", file=sys.stderr)
    pending = set(map(str, todo))
    earlier = [previous.get(str(p)) or previous[os.path.abspath(p)] for p in paths if str(p) not in pending]
    outcomes = [(status, verdict) for status, verdict, _ in earlier]
    if todo:
        outcomes += _scan(args, todo, out, fmt, earlier_thresholds={t for _, _, t in earlier})

    failed = any(status != "ok" for status, _ in outcomes)
    flagged = any(verdict == "artifact" for _, verdict in outcomes)
    if args.fail_on_artifact and flagged:
        return EXIT_ARTIFACT
    return EXIT_FAILED if failed else EXIT_OK


def _holds_no_rows_yet(out: Path, fmt: str) -> bool:
    """True for a missing or empty file, a CSV header alone, or one torn first row."""
    if not out.is_file():
        return True
    with open(out, encoding="utf-8", errors="replace") as handle:
        first_line = handle.readline()
    if not first_line.endswith("\n"):
        return True  # killed while writing the first row
    return fmt == "csv" and first_line.rstrip("\r\n") == ",".join(CSV_COLUMNS)


def _previous_outcomes(out: Path, fmt: str) -> dict[str, tuple[str, str | None, float]]:
    """(status, verdict, threshold) of every complete row already in ``out``, by path and absolute path."""
    from audio_artifacts.reports import CsvSummaryWriter, read_jsonl

    if not out.is_file():
        return {}
    if fmt == "csv":
        rows = [(r["path"], r["status"], r["verdict"] or None, float(r["threshold"]))
                for r in CsvSummaryWriter.read_rows(out)]
    else:
        rows = [(r.path, r.status, r.verdict, r.threshold) for r in read_jsonl(out)]
    outcomes: dict[str, tuple[str, str | None, float]] = {}
    for path, status, verdict, threshold in rows:
        outcomes[path] = outcomes[os.path.abspath(path)] = (status, verdict, threshold)
    return outcomes


def _scan(
    args: argparse.Namespace,
    paths: list[Path],
    out: Path | None,
    fmt: str | None,
    earlier_thresholds: set[float] = frozenset(),
) -> list[tuple[str, str | None]]:
    """Scan ``paths``, writing each result as it comes; returns (status, verdict) per path."""
    from tqdm import tqdm

    from audio_artifacts.errors import ModelDirError
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.plots import plot_scan
    from audio_artifacts.reports import CsvSummaryWriter, JsonlWriter, TableFormatter

    try:
        detector = Detector(args.model, backend=args.backend, threshold=args.threshold,
                            batch_size=args.batch_size, threads=args.workers)
    except ModelDirError as exc:
        if args.model is not None:
            raise
        raise ModelDirError(f"the bundled default model cannot be used ({exc}); "
                            "pass --model DIR to scan with another model directory") from exc
    other = sorted(earlier_thresholds - {detector.threshold})
    if other:
        print(f"audio-artifacts scan: warning: rows already in {out} used threshold(s) "
              f"{', '.join(map(str, other))}; this run uses {detector.threshold}", file=sys.stderr)
    table = TableFormatter() if fmt is None else None
    if out is not None:
        writer_class = CsvSummaryWriter if fmt == "csv" else JsonlWriter
        writer = writer_class(out, resume=args.resume)
    elif fmt is not None:
        writer = (CsvSummaryWriter if fmt == "csv" else JsonlWriter).to_stream(sys.stdout)
    else:
        writer = None
    plots_dir = Path(args.plots) if args.plots is not None else None
    used_names: set[str] = set()
    outcomes: list[tuple[str, str | None]] = []
    counts = {"artifact": 0, "error": 0}
    bar = tqdm(total=len(paths), unit="file", file=sys.stderr, disable=not sys.stderr.isatty(),
               desc="scanning", leave=False)
    try:
        if table is not None:
            bar.write(table.header(), file=sys.stdout)
        for path, result in zip(paths, detector.scan_many(paths)):
            if writer is not None:
                writer.write(result)
            else:
                bar.write(table.row(result), file=sys.stdout)
                sys.stdout.flush()
            outcomes.append((result.status, result.verdict))
            counts["artifact"] += result.flagged
            counts["error"] += not result.ok
            if plots_dir is not None and result.ok and (result.flagged or args.plots_all):
                try:
                    plot_scan(path, result, plots_dir / _plot_name(path, used_names), detector.audio_config)
                except Exception as exc:  # a picture must never cost the scan its results
                    bar.write(f"audio-artifacts scan: warning: no picture for {path}: {exc}", file=sys.stderr)
            bar.set_postfix(counts, refresh=False)
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    footer = TableFormatter.footer(len(outcomes), counts["artifact"], counts["error"])
    if table is not None:
        print()
        print(footer)
    elif out is not None:
        print(f"{footer} -> {out}", file=sys.stderr)
    return outcomes

"""``audio-artifacts scan``: scan recordings for artifacts and report every one.

Inputs are files, folders (searched for audio files, recursively by default)
and glob patterns (expanded here, so they work from Windows shells too). A
directory whose name ends in an audio extension is scanned as a file and so
reported as an error row, like every other broken input.

Output contract
---------------
* ``--out FILE.jsonl``: one JSON object per recording (`results.schema.ScanResult`),
  written, flushed and fsync'ed as each recording finishes.
* ``--format csv``: the flat CSV summary instead (``--out`` ending in ``.csv``
  implies it). With ``--format`` but no ``--out`` the rows go to stdout.
* No ``--out`` and no ``--format``: a readable table on stdout.
* ``--resume``: recordings already in ``--out`` with the same file identity
  (size, modification time, SHA-256 of the first MiB) are skipped, new rows
  are appended (a row torn by a crash is dropped and its recording scanned
  again). A recording whose identity changed (replaced, re-recorded) has its
  old row removed and is scanned again, and the scan says so.

Engines
-------
``--engine local`` (default) scans in this process (`inference.detector`);
``--engine ray`` on Ray actors, each holding one loaded detector, on a local
Ray instance or a cluster (`inference.ray_engine`; Ray is imported only
then). Both feed the same row loop here: same outputs, ``--resume`` and exit
codes; Ray's rows come in the order they finish.

Stimulus-aware
--------------
``--stimulus FILE`` (one for all) or ``--stimulus-map CSV`` (``recording;stimulus``
rows, paths relative to the CSV's folder; every problem listed at once, exit
2 before scanning): what the test system played. Each recording is then
judged on what that stimulus does not explain (`inference.stimulus`), and its
row carries a ``stimulus`` object (file, alignment found, explained power,
THD, or a warning when the stimulus does not match).

Exit codes
----------
0 every recording scanned; 1 some recordings could not be scanned (each has
an error row, all others are reported); 2 usage errors (bad options, nothing
to scan, unusable model); 3 with ``--fail-on-artifact`` when any verdict is
``artifact``; 4 the results cannot be written (disk full, file-size limit,
permission): rows written so far are intact, rerun with ``--resume`` once
fixed. 4 takes precedence (the output is incomplete), then 3 over 1: an
artifact found is a definite finding about a device, while the failed files
are listed in the output either way. With ``--resume`` the code and the
summary cover the rows already in the file too, so they are the same as for
one uninterrupted run.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# results is light (standard library only); the model stack is imported in run only.
from audio_artifacts.results.schema import CSV_DIALECTS, FileIdentity, ScanResult
from audio_artifacts.results.writers import CsvSummaryWriter, ResultsWriteError
from audio_artifacts.cli.scan_outputs import add_output_arguments, check_output_arguments

#: Extensions (lower case) collected from folders and globs.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
    ".aifc", ".w64", ".rf64", ".caf", ".au", ".snd",
})

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ARTIFACT, EXIT_OUTPUT = 0, 1, 2, 3, 4


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
    parser.add_argument("--csv-dialect", choices=CSV_DIALECTS, default="plain",
                        help="CSV flavour: plain (',', default) or excel (';', decimal commas, UTF-8 BOM: "
                             "opens as a table in a German or other European Excel)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="decision threshold on the probability in [0, 1] (default: the model's)")
    parser.add_argument("--resume", action="store_true",
                        help="skip recordings already in --out (same size, time and content hash) "
                             "and append the others")
    parser.add_argument("--fail-on-artifact", action="store_true",
                        help="exit with code 3 when any recording's verdict is artifact")
    parser.add_argument("--plots", metavar="DIR", default=None,
                        help="write a spectrogram + probability PNG per flagged recording here")
    parser.add_argument("--plots-all", action="store_true",
                        help="with --plots: a picture for every scanned recording, not only flagged ones")
    add_output_arguments(parser)
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="search folders recursively (default: yes)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="compute threads of the model backend (default: the backend's choice)")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N",
                        help="windows per model call (default: 16; larger batches raise peak memory)")
    parser.add_argument("--no-describe", dest="describe", action="store_false",
                        help="verdicts and window times only: skip measuring each event's type, lines, period, "
                             "level and precise times (faster on batches where most recordings are flagged)")
    ray = parser.add_argument_group("Ray engine (pip install \"audio-artifacts[ray]\"; docs/scan.md)")
    ray.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="local: this process (default); ray: Ray actors, each with one loaded model "
                          "(rows in the order they finish)")
    ray.add_argument("--ray-address", metavar="ADDR", default=None,
                     help="join this Ray cluster (auto or HOST:PORT; recordings and model on a shared file "
                          "system); default: start a local Ray instance on this machine's cores")
    ray.add_argument("--ray-workers", type=int, default=None, metavar="N",
                     help="Ray workers (default: one per CPU of the cluster, or per GPU share)")
    ray.add_argument("--ray-gpus-per-worker", type=float, default=0.0, metavar="F",
                     help="GPUs reserved by each Ray worker (fractions share a GPU); its model runs on CUDA")
    stimulus = parser.add_mutually_exclusive_group()
    stimulus.add_argument("--stimulus", metavar="FILE", default=None,
                          help="what the test system played (any rate, format, level, start): judge only what "
                               "it does not explain (the same stimulus for every recording)")
    stimulus.add_argument("--stimulus-map", metavar="CSV", default=None,
                          help="recording;stimulus rows (';'-separated, paths relative to the CSV's folder): "
                               "each recording judged against its own stimulus")


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


def _ignore_case(pattern: str) -> str:
    """``pattern`` with the letters of its last component matching either case (``*.wav`` -> ``*.[wW][aA][vV]``).

    Windows matches names without regard to case and our docs promise globs
    as there; folders above the last component keep the file system's rules.
    Letters inside ``[...]`` are left alone.
    """
    cut = max(pattern.rfind("/"), pattern.rfind(os.sep))
    head, last = pattern[: cut + 1], pattern[cut + 1 :]
    out, in_class = [], False
    for ch in last:
        if in_class:
            out.append(ch)
            in_class = ch != "]"
        elif ch == "[":
            out.append(ch)
            in_class = True
        elif ch.isalpha() and ch.lower() != ch.upper():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            out.append(ch)
    return head + "".join(out)


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
            for match in sorted(set(glob.glob(_ignore_case(pattern), recursive=recursive))):
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


#: Recordings whose identities are taken just before they are handed to the detector:
#: the first rows come out at once even for a large archive.
IDENTITY_CHUNK = 32


def _scan_in_chunks(detector, paths: list[Path], identities: dict[str, FileIdentity | None],  # noqa: ANN001, ANN202
                    stimuli: dict[str, tuple[Path, str]] | None = None):
    """(path, result) in order; each chunk's identities are taken before its files are read.

    ``stimuli``: recording (``str(path)``) -> (stimulus file, its name on the row).
    """
    for start in range(0, len(paths), IDENTITY_CHUNK):
        chunk = paths[start : start + IDENTITY_CHUNK]
        for path in chunk:
            if str(path) not in identities:
                identities[str(path)] = FileIdentity.of(path)
        if stimuli:
            plan = [stimuli.get(str(path)) for path in chunk]
            results = detector.scan_many(chunk, stimuli=[None if p is None else p[0] for p in plan],
                                         stimulus_names=[None if p is None else p[1] for p in plan])
        else:
            results = detector.scan_many(chunk)
        try:
            yield from zip(chunk, results)
        finally:
            results.close()  # stops the detector's reader thread now, not when collected


@contextlib.contextmanager
def _open_engine(args: argparse.Namespace, identities: dict[str, FileIdentity | None]):  # noqa: ANN202
    """(threshold, audio config, results) of the chosen engine; ``results(paths)`` yields (path, result).

    Results carry their file identity, taken just before the file was read.
    """
    import dataclasses

    from audio_artifacts.errors import ModelDirError

    stimuli = getattr(args, "stimuli_by_path", None)
    try:
        if args.engine == "ray":
            from audio_artifacts.audio import AudioConfig
            from audio_artifacts.inference.ray_engine import RayEngine, RayOptions, import_ray
            from audio_artifacts.models.model_dir import default_model_dir, read_model_info

            import_ray()  # the install hint before anything else
            model_dir = Path(args.model) if args.model is not None else Path(default_model_dir())
            info = read_model_info(model_dir)  # a bad directory is a usage error before Ray starts
        else:
            from audio_artifacts.inference.detector import Detector

            detector = Detector(args.model, backend=args.backend, threshold=args.threshold,
                                batch_size=args.batch_size, threads=args.workers, describe=args.describe)
    except ModelDirError as exc:
        if args.model is not None:
            raise
        raise ModelDirError(f"the bundled default model cannot be used ({exc}); "
                            "pass --model DIR to scan with another model directory") from exc
    if args.engine != "ray":
        def local(paths: list[Path]):  # noqa: ANN202
            for path, result in _scan_in_chunks(detector, paths, identities, stimuli):
                yield path, dataclasses.replace(result, identity=identities[str(path)])

        yield detector.threshold, detector.audio_config, local
        return
    threshold = float(info.threshold if args.threshold is None else args.threshold)
    options = RayOptions(address=args.ray_address, workers=args.ray_workers,
                         gpus_per_worker=args.ray_gpus_per_worker,
                         cpus_per_worker=float(args.workers or 1))
    detector_options = {"model_dir": str(model_dir.resolve()), "backend": args.backend,
                        "threshold": args.threshold, "batch_size": args.batch_size, "describe": args.describe}
    engine = RayEngine(options, detector_options, threshold, {"name": info.name, "version": info.version})
    with engine:
        yield threshold, AudioConfig(sample_rate=info.sample_rate), lambda paths: engine.scan(paths, stimuli)


def stimulus_plan(paths: list[Path], stimulus: str | None,
                  stimulus_map: str | None) -> dict[str, tuple[Path, str]] | None:
    """Which stimulus each recording is judged against: ``str(path)`` -> (file, name for the row).

    ``stimulus``: one file for all. ``stimulus_map``: a ``recording;stimulus``
    CSV (a ``recording;stimulus`` header line is allowed; paths relative to the
    CSV's folder). Recordings the map does not name are scanned without one.

    Raises
    ------
    ValueError
        Listing every problem at once: an unreadable stimulus, a malformed row,
        a row naming a recording that is not being scanned.
    """
    import csv

    from audio_artifacts.audio import read_info
    from audio_artifacts.errors import AudioLoadError

    if stimulus is None and stimulus_map is None:
        return None
    if stimulus is not None:
        try:
            read_info(stimulus)
        except AudioLoadError as exc:
            raise ValueError(f"--stimulus {exc}") from exc
        return {str(p): (Path(stimulus), stimulus) for p in paths}
    table = Path(stimulus_map)
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--stimulus-map {table}: cannot be read ({exc})") from exc
    by_abs = {os.path.abspath(p): p for p in paths}
    plan: dict[str, tuple[Path, str]] = {}
    problems: list[str] = []
    checked: dict[str, str | None] = {}
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter=";"), 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and [c.strip().lower() for c in row] == ["recording", "stimulus"]:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            problems.append(f"line {number}: expected 'recording;stimulus', got {';'.join(row)!r}")
            continue
        recording = os.path.abspath(table.parent / row[0].strip())
        stim = table.parent / row[1].strip()
        if recording not in by_abs:
            problems.append(f"line {number}: recording {row[0].strip()} is not among the recordings scanned")
        if str(stim) not in checked:
            try:
                read_info(stim)
                checked[str(stim)] = None
            except AudioLoadError as exc:
                checked[str(stim)] = exc.reason
        if checked[str(stim)] is not None:
            problems.append(f"line {number}: stimulus {stim}: {checked[str(stim)]}")
        if recording in by_abs and checked[str(stim)] is None:
            plan[str(by_abs[recording])] = (stim, row[1].strip())
    if problems:
        raise ValueError(f"--stimulus-map {table}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    missing = [str(p) for p in paths if str(p) not in plan]
    if missing:
        print(f"audio-artifacts scan: warning: --stimulus-map names no stimulus for {len(missing)} recording(s) "
              f"(judged on the recording alone), e.g. {missing[0]}", file=sys.stderr)
    return plan


@dataclass(frozen=True)
class _Outcome:
    """What the exit code and the summary need of one row."""

    path: str
    status: str
    verdict: str | None
    threshold: float
    identity: FileIdentity | None


def run(args: argparse.Namespace) -> int:
    """Scan every input; returns the exit code (see the module docstring)."""
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        return _usage_error(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.batch_size < 1:
        return _usage_error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 1:
        return _usage_error(f"--workers must be >= 1, got {args.workers}")
    if args.engine != "ray" and (args.ray_address is not None or args.ray_workers is not None
                                 or args.ray_gpus_per_worker):
        return _usage_error("--ray-address, --ray-workers and --ray-gpus-per-worker need --engine ray")
    if args.ray_workers is not None and args.ray_workers < 1:
        return _usage_error(f"--ray-workers must be >= 1, got {args.ray_workers}")
    if args.ray_gpus_per_worker < 0:
        return _usage_error(f"--ray-gpus-per-worker must be >= 0, got {args.ray_gpus_per_worker}")
    if args.resume and args.out is None:
        return _usage_error("--resume needs --out (the file to resume)")
    if args.plots_all and args.plots is None:
        return _usage_error("--plots-all needs --plots DIR")
    problem = check_output_arguments(args)
    if problem is not None:
        return _usage_error(problem)
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
    try:
        args.stimuli_by_path = stimulus_plan(paths, getattr(args, "stimulus", None),
                                             getattr(args, "stimulus_map", None))
    except ValueError as exc:
        return _usage_error(str(exc))

    # Identities are taken before a file is read (here for files with a row, in
    # `_scan` for the others): a file replaced while it is scanned then has a
    # row whose identity no longer matches, and is scanned again next time.
    identities: dict[str, FileIdentity | None] = {}
    previous: list[_Outcome] = []
    if args.resume:
        try:
            previous = _previous_outcomes(out, fmt, args.csv_dialect)
        except ValueError as exc:
            return _usage_error(str(exc))
        if not previous and not _holds_no_rows_yet(out, fmt):
            return _usage_error(f"--resume: {out} holds no {fmt} scan results; not appending to it")
    by_key: dict[str, _Outcome] = {}
    for row in previous:
        by_key[row.path] = by_key[os.path.abspath(row.path)] = row
    todo: list[Path] = []
    stale: list[_Outcome] = []
    for path in paths:
        row = by_key.get(str(path)) or by_key.get(os.path.abspath(path))
        if row is None:
            todo.append(path)
            continue
        identities[str(path)] = FileIdentity.of(path)
        if row.identity != identities[str(path)]:
            todo.append(path)
            stale.append(row)
    # A summary of an older version is rewritten with the file_* columns before rows are appended.
    if stale or (fmt == "csv" and args.resume and CsvSummaryWriter.is_legacy(out)):
        for row in stale:
            why = "its row has no file identity (written by an older version)" if row.identity is None \
                else "it changed since its row was written (size, modification time or content)"
            print(f"audio-artifacts scan: rescanning {row.path}: {why}", file=sys.stderr)
        try:
            _drop_rows(out, fmt, {row.path for row in stale})
        except ResultsWriteError as exc:
            return _output_error(exc)
        stale_paths = {row.path for row in stale}
        previous = [row for row in previous if row.path not in stale_paths]
    if args.resume and len(todo) < len(paths):
        print(f"audio-artifacts scan: resuming: {len(paths) - len(todo)} of {len(paths)} "
              f"recording(s) already in {out}", file=sys.stderr)
    new: list[_Outcome] = []
    try:
        if todo:
            _scan(args, todo, out, fmt, identities, new, earlier_thresholds={r.threshold for r in previous})
    except ResultsWriteError as exc:
        _print_summary(out, previous, new, args.resume)
        return _output_error(exc)
    _print_summary(out, previous, new, args.resume)

    # The whole output decides: with --resume, the rows already there count too.
    outcomes = previous + new
    failed = any(o.status != "ok" for o in outcomes)
    flagged = any(o.verdict == "artifact" for o in outcomes)
    if args.fail_on_artifact and flagged:
        return EXIT_ARTIFACT
    return EXIT_FAILED if failed else EXIT_OK


def _print_summary(out: Path | None, previous: list[_Outcome], new: list[_Outcome], resume: bool) -> None:
    """The counts of the whole output file (earlier rows included) on standard error."""
    if out is None:
        return
    extra = f" ({len(new)} scanned now, {len(previous)} already there)" if resume else ""
    print(f"{_footer(previous + new)}{extra} -> {out}", file=sys.stderr)


def _footer(outcomes: list[_Outcome]) -> str:
    from audio_artifacts.results.table import TableFormatter

    return TableFormatter.footer(len(outcomes), sum(o.verdict == "artifact" for o in outcomes),
                                 sum(o.status != "ok" for o in outcomes))


def _output_error(exc: ResultsWriteError) -> int:
    print(f"audio-artifacts scan: error: {exc}; fix it (free space, permissions) and rerun with --resume "
          "to add the missing rows", file=sys.stderr)
    return EXIT_OUTPUT


def _holds_no_rows_yet(out: Path, fmt: str) -> bool:
    """True for a missing or empty file, a CSV header alone, or one torn first row."""
    from audio_artifacts.results.writers import CsvSummaryWriter

    if not out.is_file():
        return True
    with open(out, encoding="utf-8", errors="replace") as handle:
        first_line = handle.readline()
        second = handle.readline()
    if not first_line.endswith("\n"):
        return True  # killed while writing the first row
    return fmt == "csv" and CsvSummaryWriter.dialect_of(out) is not None and not second.endswith("\n")


def _previous_outcomes(out: Path, fmt: str, dialect: str) -> list[_Outcome]:
    """Every complete row already in ``out``, in file order (``ValueError``: wrong CSV dialect)."""
    from audio_artifacts.results.writers import CsvSummaryWriter, read_jsonl

    if not out.is_file():
        return []
    if fmt == "csv":
        found = CsvSummaryWriter.dialect_of(out)
        if found is not None and found != dialect:
            raise ValueError(f"--resume: {out} is written in the {found} CSV dialect; pass --csv-dialect {found}")
        rows = []
        for r in CsvSummaryWriter.read_rows(out):
            identity = None
            if r.get("file_sha256"):
                identity = FileIdentity.coerce({"size": r["file_size"], "mtime_ns": r["file_mtime_ns"],
                                                "sha256": r["file_sha256"], "hashed_bytes": r["file_hashed_bytes"]})
            rows.append(_Outcome(r["path"], r["status"], r["verdict"] or None, float(r["threshold"]), identity))
        return rows
    return [_Outcome(r.path, r.status, r.verdict, r.threshold, r.identity) for r in read_jsonl(out)]


def _drop_rows(out: Path, fmt: str, paths: set[str]) -> None:
    """Rewrite ``out`` without the rows of ``paths`` (atomically: temporary file + rename)."""
    import csv
    import io
    import json

    from audio_artifacts.results.writers import CsvSummaryWriter, _complete_text, replace_atomically

    text = _complete_text(out)
    lines = text.splitlines(keepends=True)
    kept = []
    if fmt == "csv":
        dialect = CsvSummaryWriter.dialect_of(out) or "plain"
        delimiter = ";" if dialect == "excel" else ","
        missing = CsvSummaryWriter.missing_columns(out)
        kept.append(CsvSummaryWriter.header_line(dialect))  # an older header gains the newer columns
        for line in lines[1:]:
            fields = next(csv.reader(io.StringIO(line), delimiter=delimiter), [""])
            if fields[0] not in paths:
                kept.append(line.rstrip("\r\n") + delimiter * missing + "\n" if missing else line)
    else:
        for line in lines:
            try:
                path = json.loads(line).get("path")
            except (ValueError, AttributeError):
                path = None
            if path not in paths:
                kept.append(line)
    replace_atomically(out, "".join(kept))


def _scan(
    args: argparse.Namespace,
    paths: list[Path],
    out: Path | None,
    fmt: str | None,
    identities: dict[str, FileIdentity | None],
    outcomes: list[_Outcome],
    earlier_thresholds: set[float] = frozenset(),
) -> None:
    """Scan ``paths``, writing each result as it comes and appending its outcome to ``outcomes``."""
    from audio_artifacts.results.table import TableFormatter
    from audio_artifacts.results.writers import CsvSummaryWriter, JsonlWriter, read_jsonl

    table = TableFormatter() if fmt is None else None
    # The output first: an unwritable --out is an error before the model is loaded.
    if out is not None:
        if fmt == "csv":
            writer = CsvSummaryWriter(out, resume=args.resume, dialect=args.csv_dialect)
        else:
            writer = JsonlWriter(out, resume=args.resume)
    elif fmt == "csv":
        writer = CsvSummaryWriter.to_stream(sys.stdout, dialect=args.csv_dialect)
    elif fmt is not None:
        writer = JsonlWriter.to_stream(sys.stdout)
    else:
        writer = None
    # A report added on --resume shows the rows already in a JSONL --out too.
    previous = read_jsonl(out) if args.report and args.resume and fmt == "jsonl" and out.is_file() else ()
    try:
        with _open_engine(args, identities) as (threshold, audio_config, results):
            _scan_rows(args, paths, out, writer, table, threshold, audio_config, results, outcomes,
                       earlier_thresholds, previous)
    finally:
        if writer is not None:
            writer.close()
    if table is not None:
        print()
        print(_footer(outcomes))


def _scan_rows(
    args: argparse.Namespace,
    paths: list[Path],
    out: Path | None,
    writer,  # noqa: ANN001 - a results writer or None (table)
    table,  # noqa: ANN001 - a TableFormatter or None
    threshold: float,
    audio_config,  # noqa: ANN001 - audio.AudioConfig of the pictures
    results,  # noqa: ANN001 - paths -> iterator of (path, ScanResult)
    outcomes: list[_Outcome],
    earlier_thresholds: set[float],
    previous: Sequence[ScanResult] = (),
) -> None:
    """The row loop of `_scan`: write each result as it arrives, pictures, report, isolated audio, progress bar.

    ``previous`` are rows an earlier run wrote (``--resume``), for the report page.
    """
    from tqdm import tqdm

    from audio_artifacts.cli.scan_outputs import RowOutputs

    other = sorted(earlier_thresholds - {threshold})
    if other:
        print(f"audio-artifacts scan: warning: rows already in {out} used threshold(s) "
              f"{', '.join(map(str, other))}; this run uses {threshold}", file=sys.stderr)
    extras = RowOutputs(args, audio_config, previous)
    counts = {"artifact": 0, "error": 0}
    bar = tqdm(total=len(paths), unit="file", file=sys.stderr, disable=not sys.stderr.isatty(),
               desc="scanning", leave=False)
    try:
        if table is not None:
            bar.write(table.header(), file=sys.stdout)
        for path, result in results(paths):
            if writer is not None:
                writer.write(result)
            else:
                bar.write(table.row(result), file=sys.stdout)
                sys.stdout.flush()
            outcomes.append(_Outcome(result.path, result.status, result.verdict, result.threshold,
                                     result.identity))
            counts["artifact"] += result.flagged
            counts["error"] += not result.ok
            extras.handle(path, result, lambda message: bar.write(message, file=sys.stderr))
            bar.set_postfix(counts, refresh=False)
            bar.update(1)
    finally:
        bar.close()
        extras.close()

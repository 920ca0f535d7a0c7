"""``audio-artifacts evaluate``: measure model directories on a labelled manifest.

    audio-artifacts evaluate MODEL_DIR [MODEL_DIR ...] MANIFEST [--out DIR]
                             [--by COLUMN ...] [--threshold T]

MANIFEST is a CSV (prototype ``path;class`` or the simulator's extended one)
or a folder with ``artifact/`` and ``no_artifact/``. Every recording is
scanned by the same Detector as ``scan`` (same windows, same probabilities).

Output (``--out``, default ``./evaluation``), written as it is made:

* ``<model>/predictions.jsonl`` -- one line per recording as it is scored:
  window times, probabilities and labels;
* ``<model>/evaluation.json``, ``<model>/report.md``, ``<model>/roc.png``,
  ``<model>/pr.png``, ``<model>/reliability.png`` -- one model's metrics
  (calibration: Brier score and expected calibration error), breakdowns and
  curves;
* ``report.json``, ``report.md`` -- all models with the comparison tables
  (``| model | F1 | precision | recall | ROC AUC |``); with several models
  also ``roc.png`` / ``pr.png`` / ``reliability.png`` comparing their
  recording-level curves.

``<model>`` is the model's name from ``model.json`` (``name-version`` when two
models share a name; ``-2``, ``-3``, ... when name and version repeat).

The recording-level comparison table is printed on stdout, then the
per-condition comparison (worst per-stimulus FPR, FPR of recordings < 5 s,
recall at >= 0 dB) and each model's per-condition tables: FPR of clean
recordings per stimulus and per duration band, recall per artifact type and
per level band, all at the threshold used. With event truth in the manifest
(the simulator's CSV), each model's description figures follow
(``evaluation.description``: type accuracy and per-type F1, share of true
lines found within max(1 %, 16 Hz), periods within 5 %, onset / offset
errors, for events >= 6 dB over the floor).

Exit codes: 0 ok; 1 some recordings could not be read (they are listed in the
reports, the others evaluated); 2 usage errors (bad manifest, model
directory, column or threshold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``audio-artifacts evaluate``."""
    parser.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR", help="one or more model directories")
    parser.add_argument("manifest", metavar="MANIFEST",
                        help="labelled recordings: a manifest CSV or a folder with artifact/ and no_artifact/")
    parser.add_argument("--out", metavar="DIR", default="evaluation",
                        help="output folder for predictions, reports and curves (default: ./evaluation)")
    parser.add_argument("--by", metavar="COLUMN", nargs="+", action="extend", default=[],
                        help="break metrics down by these manifest columns (e.g. artifact_types stimulus "
                             "artifact_level_db); numeric columns are grouped into bands")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="decision threshold on the probability in [0, 1] (default: each model's own)")
    parser.add_argument("--data-root", metavar="DIR", default=None,
                        help="base of relative paths in a CSV manifest (default: the CSV's folder)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                        help=("inference backend (default: auto = model.onnx in ONNX Runtime when present, "
                              "except the fast default model, which is quicker in torch)"))
    parser.add_argument("--min-overlap", type=float, default=None, metavar="S",
                        help="seconds a window must overlap an artifact event to count as an artifact "
                             "window (default: 0.5, or one period for periodic events)")
    parser.add_argument("--stimulus-aware", action="store_true",
                        help="also score each model stimulus-aware (the manifest's stimulus_path column: what the "
                             "test system played) and report both side by side per stimulus kind")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N",
                        help="windows per model call (default: 16, as the scanner)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="compute threads of the model backend (default: the backend's choice)")


def _usage_error(message: str) -> int:
    print(f"audio-artifacts evaluate: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _unique_labels(infos: list) -> list[str]:
    """Model names as labels; ``name-version`` where names repeat with other versions,
    then ``-2``, ``-3``, ... for the same name and version."""
    names = [str(info.name) or "model" for info in infos]
    pairs = [(name, str(info.version)) for info, name in zip(infos, names)]
    labels: list[str] = []
    for (name, version) in pairs:
        base = name if names.count(name) == 1 or pairs.count((name, version)) > 1 else f"{name}-{version}"
        base = base.replace("/", "_").replace("\\", "_")
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}-{n}"
        labels.append(label)
    return labels


def run(args: argparse.Namespace) -> int:
    """Evaluate every model directory on the manifest; see the module docstring."""
    from audio_artifacts.data.labels import DEFAULT_MIN_OVERLAP_S
    from audio_artifacts.data.manifest import load_entries
    from audio_artifacts.evaluation.breakdown import check_columns
    from audio_artifacts.evaluation.compare import (
        comparison_rows,
        comparison_table,
        condition_comparison_rows,
        condition_table,
        stimulus_side_by_side,
    )
    from audio_artifacts.evaluation.plots import CurveSeries, plot_curves, plot_reliability
    from audio_artifacts.evaluation.predictions import (
        FailedRecording,
        PredictionWriter,
        recording_arrays,
        score_entries,
        window_arrays,
    )
    from audio_artifacts.evaluation.report import (
        conditions_markdown,
        evaluate_scores,
        markdown_report,
        model_markdown,
        write_json,
    )
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.models.model_dir import read_model_info

    model_dirs = [Path(p) for p in args.model_dirs]
    manifest = Path(args.manifest)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        return _usage_error(f"--threshold must be in [0, 1], got {args.threshold}")
    min_overlap = DEFAULT_MIN_OVERLAP_S if args.min_overlap is None else args.min_overlap
    if min_overlap < 0:
        return _usage_error(f"--min-overlap must be >= 0 seconds, got {min_overlap}")
    if args.batch_size < 1:
        return _usage_error(f"--batch-size must be >= 1, got {args.batch_size}")
    infos = []
    for directory in model_dirs:  # all checked before any scoring starts
        if not directory.is_dir():
            return _usage_error(f"{directory}: model directory does not exist")
        infos.append(read_model_info(directory))  # ModelDirError -> exit 2 in the dispatcher
    if manifest.is_dir() and args.data_root is not None:
        return _usage_error("--data-root applies to CSV manifests only")
    entries = load_entries(manifest, args.data_root)  # ManifestError lists every problem
    try:
        check_columns(entries, args.by)
    except ValueError as exc:
        return _usage_error(str(exc))

    stimulus_root = None
    if getattr(args, "stimulus_aware", False):
        if manifest.is_dir() or not any(e.columns.get("stimulus_path") for e in entries):
            return _usage_error("--stimulus-aware needs a simulator manifest with a stimulus_path column "
                                "(audio-artifacts simulate writes it)")
        stimulus_root = Path(args.data_root) if args.data_root is not None else manifest.resolve().parent
        missing = [e.columns["stimulus_path"] for e in entries
                   if e.columns.get("stimulus_path") and not (stimulus_root / e.columns["stimulus_path"]).is_file()]
        if missing:
            return _usage_error(f"--stimulus-aware: {len(missing)} stimulus file(s) missing under {stimulus_root}: "
                                + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    runs = [(d, lab, None) for d, lab in zip(model_dirs, _unique_labels(infos))]
    if stimulus_root is not None:
        runs = [r for d, lab, _ in runs for r in ((d, lab, None), (d, f"{lab}+stimulus", stimulus_root))]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluations = []
    any_failed = False
    recording_curves = []
    for directory, label, root in runs:
        detector = Detector(directory, backend=args.backend, threshold=args.threshold,
                            batch_size=args.batch_size, threads=args.workers)
        info = detector.info
        scores, failures = [], []
        with PredictionWriter(out / label / "predictions.jsonl") as writer:
            for number, item in enumerate(score_entries(detector, entries, min_overlap, root), start=1):
                writer.write(item)
                if isinstance(item, FailedRecording):
                    failures.append(item)
                    print(f"  {item.error}", file=sys.stderr)
                else:
                    scores.append(item)
                if number % 50 == 0 or number == len(entries):
                    print(f"{label}: {number}/{len(entries)} recordings scored", file=sys.stderr)
        any_failed = any_failed or bool(failures)
        try:
            evaluation = evaluate_scores(
                scores, failures, detector.threshold, label=label, model_dir=directory,
                model={"name": info.name, "version": info.version, "architecture": info.architecture,
                       "backend": getattr(detector.backend, "name", None), "temperature": info.temperature},
                manifest=manifest,
                window={"duration_s": info.window.duration_s, "overlap": info.window.overlap},
                by=args.by,
            )
        except ValueError as exc:
            print(f"audio-artifacts evaluate: error: {label}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        rec = CurveSeries("recordings (max)", *recording_arrays(scores), detector.threshold)
        win = CurveSeries("windows", *window_arrays(scores), detector.threshold)
        for kind in ("roc", "pr"):
            if plot_curves([win, rec], kind, out / label / f"{kind}.png", title=f"{label}: {kind.upper()}"):
                evaluation.figures[kind] = f"{kind}.png"
        if plot_reliability([win, rec], out / label / "reliability.png", title=f"{label}: reliability"):
            evaluation.figures["reliability"] = "reliability.png"
        recording_curves.append(CurveSeries(label, rec.labels, rec.scores, rec.threshold))
        write_json(out / label / "evaluation.json", evaluation.to_dict())
        (out / label / "report.md").write_text(model_markdown(evaluation) + "\n", encoding="utf-8")
        evaluations.append(evaluation)

    figures = {}
    if len(evaluations) > 1:
        for kind in ("roc", "pr"):
            if plot_curves(recording_curves, kind, out / f"{kind}.png", title=f"recordings: {kind.upper()}"):
                figures[kind] = f"{kind}.png"
        if plot_reliability(recording_curves, out / "reliability.png", title="recordings: reliability"):
            figures["reliability"] = "reliability.png"
    dicts = [e.to_dict() for e in evaluations]
    write_json(out / "report.json", {
        "manifest": str(manifest),
        "models": dicts,
        "comparison": {**{level: comparison_rows(dicts, level) for level in ("recordings", "windows")},
                       "conditions": condition_comparison_rows(dicts)},
        "figures": figures,
    })
    (out / "report.md").write_text(markdown_report(evaluations, str(manifest), figures), encoding="utf-8")
    print(comparison_table(dicts, "recordings"))
    print()
    print(condition_table(dicts))
    for evaluation in evaluations:
        print()
        print("\n".join(conditions_markdown(evaluation.conditions, "##", f"{evaluation.label}: ")).rstrip())
        if evaluation.description:
            from audio_artifacts.evaluation.description import description_markdown

            print(f"\n## {evaluation.label}: what the events are (type, lines, period, times)\n")
            print(description_markdown(evaluation.description))
    if stimulus_root is not None:
        side = []
        for plain, aware in zip(dicts[::2], dicts[1::2]):
            side += ["", f"## {plain['label']}: output-only vs stimulus-aware, per stimulus kind", "",
                     stimulus_side_by_side(plain, aware)]
        print("\n".join(side))
        with open(out / "report.md", "a", encoding="utf-8") as handle:
            handle.write("\n".join(side) + "\n")
    print(f"reports in {out}/report.md and {out}/report.json", file=sys.stderr)
    return EXIT_FAILED if any_failed else EXIT_OK

"""What ``scan`` makes of each finished recording besides its row: pictures, isolated artifact, the HTML report.

:class:`RowOutputs` receives every :class:`~audio_artifacts.results.schema.ScanResult`
as it is written (:meth:`RowOutputs.handle`), whatever engine made it. A
picture or an isolation that fails gives a warning, never a lost result; a
report that cannot be written is a :class:`~audio_artifacts.results.writers.ResultsWriteError`
like any other output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from audio_artifacts.results.schema import ScanResult


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``scan`` options of this module: ``--report``, ``--group-by``, ``--isolate``, ``--plot-freq-scale``."""
    from audio_artifacts.plots.view import FREQUENCY_SCALES

    parser.add_argument("--plot-freq-scale", choices=FREQUENCY_SCALES, default="auto",
                        help="frequency axis of the pictures: auto (log when something under 400 Hz was found, "
                             "default), log or linear; the range always follows the findings")
    parser.add_argument("--isolate", metavar="DIR", default=None,
                        help="write <name>.artifact.wav (the estimated artifact alone) and <name>.residual.wav "
                             "per flagged recording here, at the recording's rate")
    parser.add_argument("--report", metavar="FILE.html", default=None,
                        help="write one self-contained HTML page for the whole batch, updated as results arrive "
                             "(pictures and isolated audio go to FILE_files/ unless --plots / --isolate say where)")
    parser.add_argument("--group-by", metavar="REGEX", default=None,
                        help="with --report: statistics per value of each named group of REGEX, searched in the "
                             "file names, e.g. '(?P<unit>[^_]+)_'")


def check_output_arguments(args: argparse.Namespace) -> str | None:
    """A usage error message for these options, or ``None`` when they are fine."""
    from audio_artifacts.results.html_report import compile_group_by

    if args.group_by is not None:
        if args.report is None:
            return "--group-by needs --report FILE.html"
        try:
            compile_group_by(args.group_by)
        except ValueError as exc:
            return str(exc)
    if args.report is not None and Path(args.report).is_dir():
        return f"--report {args.report} is a folder; give a file name such as report.html"
    if args.isolate is not None and Path(args.isolate).exists() and not Path(args.isolate).is_dir():
        return f"--isolate {args.isolate} is a file; give a folder"
    return None


def _unique_name(stem: str, suffix: str, used: set[str]) -> str:
    """``<stem><suffix>``, made unique within one run (same stems from different folders)."""
    name, n = f"{stem}{suffix}", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}{suffix}"
    used.add(name)
    return name


def _plot_residual(path: Path, stimulus: Path, result: ScanResult, out_png: Path, audio_config,  # noqa: ANN001
                   frequency_scale: str) -> Path:
    """The scan picture of what the stimulus does not explain (the residual the windows describe)."""
    import tempfile

    from audio_artifacts.audio import write_audio
    from audio_artifacts.inference.stimulus import residual_of_files
    from audio_artifacts.plots import plot_scan

    residual, _ = residual_of_files(path, stimulus, audio_config)
    with tempfile.TemporaryDirectory(prefix="audio-artifacts-residual-") as folder:
        temporary = Path(folder) / "residual.wav"
        write_audio(temporary, residual, audio_config.sample_rate, subtype="FLOAT")
        return plot_scan(temporary, result, out_png, audio_config, frequency_scale=frequency_scale)


class RowOutputs:
    """Pictures, isolated artifacts and the HTML report of one scan run.

    Parameters
    ----------
    args : argparse.Namespace
        ``scan``'s options (``plots``, ``plots_all``, ``plot_freq_scale``,
        ``isolate``, ``report``, ``group_by``, ``resume``).
    audio_config : audio.AudioConfig
        Channel handling as the detector reads recordings.
    previous : iterable of ScanResult
        With ``--resume``: the rows already in ``--out``, for a report that
        does not have them yet.
    """

    def __init__(self, args: argparse.Namespace, audio_config, previous: Iterable[ScanResult] = ()) -> None:  # noqa: ANN001
        from audio_artifacts.results.html_report import HtmlReport, compile_group_by

        self.audio_config = audio_config
        self.frequency_scale = getattr(args, "plot_freq_scale", "auto")
        self.plots_all = bool(getattr(args, "plots_all", False))
        self.report = None
        if getattr(args, "report", None) is not None:
            group_by = compile_group_by(args.group_by) if args.group_by else None
            self.report = HtmlReport(args.report, group_by=group_by, resume=bool(args.resume), previous=previous)
        plots = getattr(args, "plots", None)
        isolate = getattr(args, "isolate", None)
        self.plots_dir = Path(plots) if plots is not None else (
            self.report.assets / "pictures" if self.report is not None else None)
        self.isolate_dir = Path(isolate) if isolate is not None else (
            self.report.assets / "isolated" if self.report is not None else None)
        # recording -> (stimulus file, its name): pictures of stimulus-aware rows show the residual
        self.stimuli: dict = getattr(args, "stimuli_by_path", None) or {}
        self._used: set[str] = set()

    def handle(self, path: Path, result: ScanResult, warn: Callable[[str], None]) -> None:
        """Make the picture, the isolated artifact and the report row of one finished recording."""
        # Each output imports its own modules only when it is asked for: a plain scan imports
        # no scipy.signal (0.9 s of a fresh command's start).
        picture = artifact = residual = isolation = None
        stem = Path(path).stem
        if self.plots_dir is not None and result.ok and (result.flagged or self.plots_all):
            png = self.plots_dir / _unique_name(stem, ".png", self._used)
            played = self.stimuli.get(str(path)) if result.stimulus is not None else None
            try:
                if played is not None:  # the picture of what the windows judged: the residual
                    picture = _plot_residual(path, played[0], result, png, self.audio_config, self.frequency_scale)
                else:
                    from audio_artifacts.plots import plot_scan

                    picture = plot_scan(path, result, png, self.audio_config, frequency_scale=self.frequency_scale)
            except Exception as exc:  # a picture must never cost the scan its results
                warn(f"audio-artifacts scan: warning: no picture for {path}: {exc}")
        if self.isolate_dir is not None and result.ok and result.flagged:
            name = _unique_name(stem, ".artifact.wav", self._used).removesuffix(".artifact.wav")
            from audio_artifacts.isolation import isolate_recording

            try:
                isolated = isolate_recording(path, result, self.isolate_dir / f"{name}.artifact.wav",
                                             self.isolate_dir / f"{name}.residual.wav", self.audio_config)
                artifact, residual = isolated.artifact, isolated.residual
                isolation = "; ".join(f"event {n}: {plan.describe()}" for n, plan in enumerate(isolated.plans, 1))
            except Exception as exc:  # like a picture: a warning, never a lost result
                warn(f"audio-artifacts scan: warning: no isolated artifact for {path}: {exc}")
        if self.report is not None:
            from audio_artifacts.results.html_report import ReportRow

            link = self.report.relative
            self.report.add(ReportRow(result, picture=link(picture) if picture else None,
                                      artifact_audio=link(artifact) if artifact else None,
                                      residual_audio=link(residual) if residual else None, isolation=isolation))

    def close(self) -> None:
        """Write the report's final page."""
        if self.report is not None:
            self.report.close()

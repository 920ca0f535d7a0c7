"""Scan speed and memory of the detector, end to end, on a fixed set of recordings.

One run prints:

* the read + resample floor: ``audio.stream_audio`` alone over the files
  (one thread, as the detector's reader thread does it);
* the default model's real-time factor (audio seconds per wall second) end
  to end (``Detector.scan_many``: read, resample, window, batch, infer,
  results, description of the flagged recordings' events) for each backend
  and thread count, and the same scan without describing events;
* the default model's real-time factor on a folder of short recordings
  (``SHORT_N`` simulated recordings of 2-5 s: one padded window each, and a
  file to open per few seconds of audio);
* Wavegram-Logmel-CNN14's real-time factor on a subset (extrapolated);
* peak RSS of a separate process scanning a 2-hour 48 kHz recording;
* the command line end to end (``audio-artifacts scan``, a fresh process:
  start-up, imports, model load, scan, rows written) on a folder of
  ``MIXED_N`` recordings of 2.5-60 s, for the local engine and for
  ``--engine ray`` with 1 and 2 workers (a local Ray instance), with the
  time from the command to its first row, and the same for one 3 s
  recording; the same for a PANNs model (Cnn14, random weights: speed only)
  on a subset, and an estimate for a 100,000-recording archive.

The recordings are a fixed simulated set (``audio_artifacts.simulate``, seed
20261125: 72 test-box recordings of 25-35 s, about 36 minutes, at the
simulator's mix of 16-96 kHz, mono and stereo, 16/24-bit and float, half of
them with artifacts), written once into ``--data`` and reused. The 2-hour
memory run uses one long synthetic 48 kHz file written block by block.

Usage::

    python bench/scan_speed.py                      # everything
    python bench/scan_speed.py --no-two-hour        # skip the 2-hour memory run
    python bench/scan_speed.py --model-dir DIR      # another model than the bundled one
    python bench/scan_speed.py --only-cli           # only the command-line / Ray figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The fixed recording set: simulated test-box recordings (mixed 16-96 kHz, mono and
# stereo, 16/24-bit and float, every stimulus and artifact type), 25-35 s each.
SIM_N = 72
SIM_SEED = 20261125
SIM_DURATION_S = (25.0, 35.0)
SHORT_N = 300
SHORT_DURATION_S = (2.0, 5.0)
MIXED_N = 200
MIXED_DURATION_S = (2.5, 60.0)
ARCHIVE_N = 100_000
TWO_HOURS_S = 7200
DATA_VERSION = "3"


# ---------------------------------------------------------------- recordings


def synth_block(rng: np.random.Generator, rate: int, n: int, kind: str, t0: float) -> np.ndarray:
    """A block of synthetic test-box audio: noise floor at about -50 dBFS plus an artifact."""
    white = rng.standard_normal(n)
    floor = np.convolve(white, np.ones(8) / 8, mode="same") * 10 ** (-50 / 20) * 2.8
    t = t0 + np.arange(n) / rate
    if kind == "tone":
        floor += 10 ** (-45 / 20) * np.sin(2 * np.pi * 3300.0 * t)
    elif kind == "ticks":
        ticks = (np.mod(t, 0.7) < 1.0 / rate).astype(np.float64)
        floor += 10 ** (-20 / 20) * ticks
    return floor


def write_recording(path: Path, rate: int, seconds: int, channels: int, kind: str, seed: int) -> None:
    """Write a recording block by block (bounded memory even for hours of audio)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(str(tmp), "w", samplerate=rate, channels=channels, subtype="PCM_16", format="WAV") as out:
        block = 60 * rate
        for start in range(0, seconds * rate, block):
            n = min(block, seconds * rate - start)
            mono = synth_block(rng, rate, n, kind, start / rate)
            frame = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
            out.write(frame.astype(np.float32))
    os.replace(tmp, path)


def ensure_recordings(data: Path, name: str = "sim", n: int = SIM_N,
                      duration_s: tuple[float, float] = SIM_DURATION_S) -> list[Path]:
    """A fixed simulated recording set in ``data/name`` (written on first use, then reused)."""
    from audio_artifacts.simulate.dataset import SimulatorConfig, write_dataset

    stamp = data / f"{name}.json"
    expected = {"version": DATA_VERSION, "n": n, "seed": SIM_SEED, "duration_s": list(duration_s)}
    folder = data / name
    if not (stamp.is_file() and json.loads(stamp.read_text()) == expected):
        shutil.rmtree(folder, ignore_errors=True)
        # every recording inside the asked range (no extra share of short ones)
        config = SimulatorConfig(duration_s=duration_s, short_fraction=0.0)
        write_dataset(folder, n, SIM_SEED, config, workers=os.cpu_count() or 1)
        stamp.write_text(json.dumps(expected))
    return sorted((folder / "audio").rglob("*.wav"))  # not the played stimuli beside them


def ensure_two_hour(data: Path) -> Path:
    path = data / "two_hours_48000Hz.wav"
    if not path.is_file():
        write_recording(path, 48000, TWO_HOURS_S, 1, "tone", seed=7)
    return path


# ---------------------------------------------------------------- measurements


def audio_seconds(paths: list[Path]) -> float:
    from audio_artifacts.audio import read_info

    return sum(read_info(p).duration_s for p in paths)


def measure_floor(paths: list[Path], sample_rate: int) -> tuple[float, float]:
    """Wall and CPU seconds of reading + resampling every file (stream_audio only)."""
    from audio_artifacts.audio import AudioConfig, stream_audio

    config = AudioConfig(sample_rate=sample_rate)
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        for block in stream_audio(path, config):
            block.sum()  # touch it
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_detector(detector, paths: list[Path]) -> tuple[float, float, int]:
    """Wall and CPU seconds of scanning every file end to end, and the window count."""
    wall, cpu = time.perf_counter(), time.process_time()
    windows = 0
    for result in detector.scan_many(paths):
        if result.status != "ok":
            raise RuntimeError(result.error)
        windows += len(result.windows)
    return time.perf_counter() - wall, time.process_time() - cpu, windows


def warm_up(detector, path: Path) -> None:
    next(iter(detector.scan_many([path])))


def onnx_model_dir(model_dir: Path, work: Path) -> tuple[Path, str]:
    """A model directory with ``model.onnx``: ``model_dir`` itself or an exported copy."""
    from audio_artifacts.inference.export import export_onnx

    if (model_dir / "model.onnx").is_file():
        return model_dir, "shipped model.onnx"
    copy = work / "onnx_model"
    shutil.copytree(model_dir, copy)
    report = export_onnx(copy, copy / "model.onnx")
    return copy, f"exported here, max |logit diff| {report.max_abs_logit_diff:.1e}"


def wavegram_dir(work: Path, window) -> Path:
    """A Wavegram-Logmel-CNN14 classifier directory (random weights: speed only)."""
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("wavegram_logmel_cnn14")
    info = ModelInfo(
        name="wavegram-speed", version="0", architecture="wavegram_logmel_cnn14",
        arguments=model.arguments(), sample_rate=32000, window=window, threshold=0.5,
        package_version=__version__,
    )
    return save_model_dir(work / "wavegram", model, info)


def vm_hwm_kib() -> int:
    """Peak resident set size of this process (``VmHWM``) in KiB.

    Not ``getrusage().ru_maxrss``: Linux carries that over from the parent's
    memory at fork through exec, so a child would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: best effort


def peak_rss_child(path: Path, model_dir: str | None, backend: str) -> None:
    """Run in a separate process: scan one file, print peak RSS as JSON."""
    from audio_artifacts.inference.detector import Detector

    detector = Detector(model_dir, backend=backend)
    before = vm_hwm_kib()
    wall = time.perf_counter()
    result = detector.scan_file(path)
    wall = time.perf_counter() - wall
    peak_kib = vm_hwm_kib()
    print(json.dumps({
        "status": result.status, "error": result.error, "duration_s": result.duration_s,
        "windows": len(result.windows), "wall_s": wall, "peak_rss_mib": peak_kib / 1024,
        "rss_before_scan_mib": before / 1024, "backend": detector.backend.name,
    }))


def measure_two_hour(data: Path, model_dir: str | None, backend: str) -> dict:
    path = ensure_two_hour(data)
    cmd = [sys.executable, __file__, "--rss-child", str(path), "--backend", backend]
    if model_dir:
        cmd += ["--model-dir", model_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the command line, local and Ray

CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]


def run_cli(args: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """Run ``audio-artifacts scan ARGS --format jsonl`` (rows on stdout) in a fresh process.

    Returns (seconds from the command to its first row, seconds to its exit, rows).
    """
    start = time.perf_counter()
    process = subprocess.Popen([*CLI, "scan", *args, "--format", "jsonl"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    first, rows = None, 0
    for line in process.stdout:
        if first is None:
            first = time.perf_counter() - start
        rows += bool(line.strip())
    _, err = process.communicate()
    total = time.perf_counter() - start
    if process.returncode not in (0, 3):
        raise RuntimeError(f"scan failed ({process.returncode}): {err[-2000:]}")
    return (first if first is not None else total), total, rows


def cli_table(label: str, paths_arg: list[str], audio_s: float, n_files: int, engines: list[tuple[str, list[str]]],
              model_args: list[str]) -> dict[str, float]:
    """Print one line per engine: files/s and x real time end to end, and after the first row.

    Returns (rate after the first row, rate end to end) per engine.
    """
    rates = {}
    for name, extra in engines:
        first, total, rows = run_cli([*paths_arg, *model_args, *extra])
        if rows != n_files:
            raise RuntimeError(f"{name}: {rows} rows for {n_files} files")
        steady = audio_s * (n_files - 1) / n_files / max(total - first, 1e-9)
        rates[name] = (steady, audio_s / total)
        print(f"  {label:22} {name:16} first row {first:6.2f} s, all {total:7.2f} s: {n_files / total:6.1f} files/s, "
              f"{audio_s / total:7.1f}x real time end to end ({steady:7.1f}x after the first row)")
    return rates


def cli_section(args: argparse.Namespace, model_dir: Path, info, work: Path) -> None:
    """The command line end to end: local engine and Ray (1 and 2 workers), default model and Cnn14."""
    mixed = ensure_recordings(args.data, "mixed", MIXED_N, MIXED_DURATION_S)
    mixed_s = audio_seconds(mixed)
    one = args.data / "one_3s_48000Hz.wav"
    if not one.is_file():
        write_recording(one, 48000, 3, 1, "tone", seed=3)
    from audio_artifacts.inference.detector import Detector

    for describe in (True, False):
        detector = Detector(model_dir, batch_size=args.batch_size, describe=describe)
        warm_up(detector, mixed[0])
        wall, cpu, windows = measure_detector(detector, mixed)
        print(f"mixed recordings ({len(mixed)} files of {MIXED_DURATION_S[0]:g}-{MIXED_DURATION_S[1]:g} s, "
              f"{mixed_s / 60:.1f} min), Detector in this process (model loaded"
              f"{'' if describe else ', describe=False'}): {mixed_s / wall:.0f}x real time, "
              f"{len(mixed) / wall:.0f} files/s, {wall:.2f} s wall, {cpu:.2f} s CPU ({mixed_s / cpu:.0f}x real time "
              f"per CPU second) -> target >= 1000x: "
              f"{'PASS' if mixed_s / wall >= 1000 else 'FAIL'}")
    del detector
    engines = [("local", []), ("local, no describe", ["--no-describe"])]
    if not args.no_ray:
        engines += [("ray, 1 worker", ["--engine", "ray", "--ray-workers", "1"]),
                    ("ray, 2 workers", ["--engine", "ray", "--ray-workers", "2"])]
    print(f"command line end to end (fresh process: start-up, imports, model load, scan, rows), "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}:")
    model_args = ["--model", str(model_dir)]
    cli_table("one 3 s recording", [str(one)], 3.0, 1, engines, model_args)
    rates = cli_table(f"{len(mixed)} of 2.5-60 s", [str(args.data / "mixed" / "audio")], mixed_s, len(mixed), engines,
                      model_args)
    mean_s = mixed_s / len(mixed)
    print(f"  ({len(mixed)} recordings, {mixed_s:.0f} s of audio, mean {mean_s:.1f} s)")
    panns_rates = {}
    if not args.no_panns:
        cnn = cnn14_dir(work, info.window)
        subset, have = [], 0.0
        for p in mixed:  # the first recordings, up to --panns-seconds of audio
            if have >= args.panns_seconds:
                break
            subset.append(p)
            have += read_info_s(p)
        sub_dir = work / "panns_subset"
        sub_dir.mkdir(exist_ok=True)
        for p in subset:
            shutil.copy(p, sub_dir / p.name)
        sub_s = audio_seconds(sorted(sub_dir.glob("*.wav")))
        panns_rates = cli_table(f"Cnn14, {len(subset)} files", [str(sub_dir)], sub_s, len(subset),
                                engines, ["--model", str(cnn), "--backend", "torch"])
    print(f"  estimate for an archive of {ARCHIVE_N:,} recordings of {mean_s:.1f} s on average "
          f"({ARCHIVE_N * mean_s / 3600:.0f} h of audio) on one machine like this one (default model: the rate "
          f"after the first row, one start-up per archive; Cnn14: the rate end to end on its few files, "
          f"start-up included, so an upper bound):")
    for name, (steady, _) in rates.items():
        line = f"    {name:16} default model {ARCHIVE_N * mean_s / steady / 3600:7.1f} h"
        if name in panns_rates:
            line += f", Cnn14 {ARCHIVE_N * mean_s / panns_rates[name][1] / 3600 / 24:7.1f} days"
        print(line)
    print("    (a cluster of N such nodes with --engine ray: about N times faster while the file system "
          "keeps up; the figures are x real time of this machine)")


def read_info_s(path: Path) -> float:
    from audio_artifacts.audio import read_info

    return read_info(path).duration_s


def cnn14_dir(work: Path, window) -> Path:
    """A Cnn14 classifier directory (random weights: speed only)."""
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("cnn14")
    info = ModelInfo(name="cnn14-speed", version="0", architecture="cnn14", arguments=model.arguments(),
                     sample_rate=32000, window=window, threshold=0.5, package_version=__version__)
    return save_model_dir(work / "cnn14", model, info)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audio-artifacts-bench",
                        help="where the recordings are written / reused")
    parser.add_argument("--model-dir", default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--configs", nargs="+", default=["2:2", "1:1", "2:1"],
                        help="THREADS:WORKERS pairs to try per backend (total cores : parallel model calls)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--wavegram-seconds", type=float, default=120.0,
                        help="audio seconds scanned with Wavegram-Logmel-CNN14 (then extrapolated)")
    parser.add_argument("--no-wavegram", action="store_true")
    parser.add_argument("--no-two-hour", action="store_true", help="skip the 2-hour peak-RSS run")
    parser.add_argument("--backend", default="auto", help="backend of the 2-hour run")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line / Ray figures")
    parser.add_argument("--only-cli", action="store_true", help="only the command-line / Ray figures")
    parser.add_argument("--no-ray", action="store_true", help="command-line figures of the local engine only")
    parser.add_argument("--no-panns", action="store_true", help="skip Cnn14 in the command-line figures")
    parser.add_argument("--panns-seconds", type=float, default=90.0,
                        help="audio seconds of the mixed set scanned with Cnn14 (whole recordings)")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child is not None:
        peak_rss_child(args.rss_child, args.model_dir, args.backend)
        return 0

    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.models.model_dir import default_model_dir, read_model_info

    model_dir = Path(args.model_dir) if args.model_dir else default_model_dir()
    info = read_model_info(model_dir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} (shared machine: other jobs count)")
    print(f"model:   {info.name} {info.version} ({info.architecture}) from {model_dir}")
    if args.only_cli:
        with tempfile.TemporaryDirectory() as tmp:
            cli_section(args, model_dir, info, Path(tmp))
        print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        return 0
    t = time.perf_counter()
    paths = ensure_recordings(args.data)
    total = audio_seconds(paths)
    from audio_artifacts.audio import read_info

    rates = sorted({read_info(p).sample_rate for p in paths})
    print(f"data:    {len(paths)} recordings, {total / 60:.1f} min of audio, rates {rates} Hz, in {args.data} "
          f"(ready in {time.perf_counter() - t:.1f} s)")
    print()

    floor_wall, floor_cpu = measure_floor(paths, info.sample_rate)
    floor_rtf = total / floor_wall
    print(f"read + resample floor (stream_audio only, 1 thread): {floor_rtf:8.0f}x real time "
          f"({floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU)")

    best = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        onnx_dir, onnx_note = onnx_model_dir(model_dir, work)
        print(f"onnx model: {onnx_note}")
        print()
        print(f"{'backend':8} {'threads':>7} {'workers':>7} {'RTF':>9} {'wall s':>7} {'CPU s':>7} "
              f"{'CPU/wall':>8} {'windows/s':>9} {'floor/RTF':>9}")
        for backend, directory in (("torch", model_dir), ("onnx", onnx_dir)):
            for config in args.configs:
                threads, workers = (int(v) for v in config.split(":"))
                detector = Detector(directory, backend=backend, threads=threads, workers=workers,
                                    batch_size=args.batch_size)
                warm_up(detector, paths[0])
                wall, cpu, windows = measure_detector(detector, paths)
                rtf = total / wall
                print(f"{backend:8} {threads:7d} {workers:7d} {rtf:8.0f}x {wall:7.2f} {cpu:7.2f} "
                      f"{cpu / wall:8.2f} {windows / wall:9.0f} {floor_rtf / rtf:9.2f}")
                if best is None or rtf > best[0]:
                    best = (rtf, backend, threads, workers)
        print()
        detector = Detector(model_dir, batch_size=args.batch_size)  # what `audio-artifacts scan` uses
        warm_up(detector, paths[0])
        wall, cpu, windows = measure_detector(detector, paths)
        rtf = total / wall
        print(f"default Detector() (backend auto -> {detector.backend.name}, {detector.workers} workers): "
              f"{rtf:.0f}x real time, {wall:.2f} s wall, {cpu:.2f} s CPU; read + resample floor {floor_rtf:.0f}x")
        print(f"  -> target >= 1000x: {'PASS' if rtf >= 1000 else 'FAIL'}; within 3x of the floor "
              f"(floor/RTF = {floor_rtf / rtf:.2f}): {'PASS' if floor_rtf / rtf <= 3 else 'FAIL'}")
        # What describing the events costs: the same scan without it, in the same run.
        plain = Detector(model_dir, batch_size=args.batch_size, describe=False)
        warm_up(plain, paths[0])
        p_wall, p_cpu, _ = measure_detector(plain, paths)
        flagged = sum(r.flagged for r in detector.scan_many(paths))
        print(f"  without describing events (Detector(describe=False)): {total / p_wall:.0f}x real time, "
              f"{p_wall:.2f} s wall, {p_cpu:.2f} s CPU; describing the events of the {flagged} flagged "
              f"recordings costs {wall - p_wall:+.2f} s wall ({(wall - p_wall) / max(flagged, 1) * 1000:+.0f} ms "
              f"per flagged recording), {cpu - p_cpu:+.2f} s CPU")
        short = ensure_recordings(args.data, "short", SHORT_N, SHORT_DURATION_S)
        short_total = audio_seconds(short)
        s_wall, s_cpu, s_windows = measure_detector(detector, short)
        s_rtf = short_total / s_wall
        print(f"short recordings ({len(short)} files of {SHORT_DURATION_S[0]:g}-{SHORT_DURATION_S[1]:g} s, "
              f"{short_total / 60:.1f} min): {s_rtf:.0f}x real time, {len(short) / s_wall:.0f} files/s, "
              f"{s_wall:.2f} s wall, {s_cpu:.2f} s CPU -> target >= 1000x: {'PASS' if s_rtf >= 1000 else 'FAIL'}")
        b_rtf, b_backend, b_threads, b_workers = best
        print(f"  CPU accounting: {total / cpu:.0f}x real time per CPU second; with every core free the "
              f"ceiling is about {min(total / floor_cpu, (os.cpu_count() or 1) * total / cpu):.0f}x "
              f"(an estimate: cores x audio per CPU second, capped by the one reader thread)")
        print(f"  best configuration above: {b_rtf:.0f}x ({b_backend}, {b_threads} threads, {b_workers} workers)")
        default_rtf = rtf

        if not args.no_wavegram:
            from audio_artifacts.audio import read_info

            subset = [p for p in paths if read_info(p).sample_rate == 48000][:1] or paths[:1]
            sub_dir = work / "subset"
            sub_path = sub_dir / "subset.wav"
            _cut(subset[0], sub_path, args.wavegram_seconds)
            wdir = wavegram_dir(work, info.window)
            detector = Detector(wdir, backend="torch", batch_size=8)
            wall, cpu, windows = measure_detector(detector, [sub_path])
            sub_total = audio_seconds([sub_path])
            w_rtf = sub_total / wall
            print(f"Wavegram-Logmel-CNN14 (torch, {detector.workers} workers): {w_rtf:.1f}x real time on a {sub_total:.0f} s "
                  f"subset ({windows} windows, {wall / windows * 1000:.0f} ms/window); extrapolated to the "
                  f"{total / 60:.0f} min set: {total / w_rtf / 60:.1f} min (the default model: "
                  f"{total / default_rtf:.1f} s)")

    if not args.no_cli:
        print()
        with tempfile.TemporaryDirectory() as tmp:
            cli_section(args, model_dir, info, Path(tmp))
    if not args.no_two_hour:
        t = time.perf_counter()
        rss = measure_two_hour(args.data, args.model_dir, args.backend)
        print(f"2-hour 48 kHz recording ({rss['duration_s'] / 3600:.2f} h, {rss['windows']} windows, "
              f"backend {rss['backend']}, separate process): peak RSS {rss['peak_rss_mib']:.0f} MiB "
              f"(model loaded, before the scan: {rss['rss_before_scan_mib']:.0f} MiB), scan {rss['wall_s']:.1f} s = "
              f"{rss['duration_s'] / rss['wall_s']:.0f}x real time -> target < 1 GB: "
              f"{'PASS' if rss['peak_rss_mib'] * 2**20 < 1e9 else 'FAIL'} "
              f"(incl. writing the file once: {time.perf_counter() - t:.0f} s)")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


def _cut(source: Path, target: Path, seconds: float) -> None:
    """First ``seconds`` of ``source`` (read through audio.py) written to ``target``."""
    from audio_artifacts.audio import AudioConfig, read_info, stream_audio, write_audio

    rate = read_info(source).sample_rate
    want = int(seconds * rate)
    blocks, have = [], 0
    for block in stream_audio(source, AudioConfig(sample_rate=rate)):
        blocks.append(block[: want - have])
        have += blocks[-1].size
        if have >= want:
            break
    write_audio(target, np.concatenate(blocks), rate)


if __name__ == "__main__":
    sys.exit(main())

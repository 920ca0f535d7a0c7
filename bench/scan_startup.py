"""Where the time of a short scan goes: start-up, imports, model load, per-file and per-window work.

Each step runs in a fresh interpreter (``python -c``), so imports are cold in
the sense that matters (not yet in this process; the OS file cache is warm,
as on a test line that scans again and again). Prints seconds per step,
median of ``--repeat`` runs:

* interpreter start (``python -c pass``);
* ``import numpy, soundfile, soxr`` (the reader side);
* ``import torch`` and ``import onnxruntime`` (the two backends);
* ``Detector()`` with the bundled model after its imports (model load);
* the first and the second ``scan_file`` of a 3 s 48 kHz recording;
* the model per 5 s window: whole windows vs windows with 3 s of real
  samples (masked statistics), batches of 16, in one process;
* ``audio-artifacts scan FILE --format jsonl`` to its first row.

Usage::

    python bench/scan_startup.py [--repeat 3] [--backend auto|torch|onnx]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP = r"""
import time, sys
t0 = time.perf_counter()
{body}
print("RESULT", {expr})
"""


def run_step(body: str, expr: str) -> str:
    code = STEP.format(body=body, expr=expr)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split(" ", 1)[1]


def median_of(repeat: int, body: str, expr: str) -> list[float]:
    runs = [eval(run_step(body, expr)) for _ in range(repeat)]  # noqa: S307 - our own numbers
    return [statistics.median(values) for values in zip(*runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the start "
          f"({os.cpu_count()} CPUs; shared machine: other jobs count)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "three_s.wav"
        subprocess.run([sys.executable, "-c",
                        "import numpy as np, soundfile as sf, sys; "
                        "sf.write(sys.argv[1], (0.02*np.random.default_rng(1).standard_normal(144000)).astype('float32'), 48000)",
                        str(wav)], check=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter = time.perf_counter() - t
        (reader,) = median_of(args.repeat, "import numpy, soundfile, soxr", "(time.perf_counter() - t0,)")
        (torch_s,) = median_of(args.repeat, "import numpy\nt0 = time.perf_counter()\nimport torch",
                               "(time.perf_counter() - t0,)")
        (ort_s,) = median_of(args.repeat, "import numpy\nt0 = time.perf_counter()\nimport onnxruntime",
                             "(time.perf_counter() - t0,)")
        body = f"""
import numpy, soundfile, soxr
from audio_artifacts.inference.backends import resolve_kind
from audio_artifacts.models.model_dir import default_model_dir
if resolve_kind(default_model_dir(), {args.backend!r}) == "torch":
    import torch
else:
    import onnxruntime
from audio_artifacts.inference.detector import Detector
t1 = time.perf_counter()
d = Detector(backend={args.backend!r})
t2 = time.perf_counter()
d.scan_file({str(wav)!r})
t3 = time.perf_counter()
d.scan_file({str(wav)!r})
t4 = time.perf_counter()
import numpy as np
width = d.info.window.window_samples(d.info.sample_rate)
batch = (0.02 * np.random.default_rng(0).standard_normal((16, width))).astype(np.float32)
full = np.full(16, width, dtype=np.int64)
cut = np.full(16, 3 * d.info.sample_rate, dtype=np.int64)
batch_cut = batch.copy(); batch_cut[:, 3 * d.info.sample_rate:] = 0
d.backend.logits(batch, full); d.backend.logits(batch_cut, cut)
t5 = time.perf_counter()
for _ in range(5): d.backend.logits(batch, full)
t6 = time.perf_counter()
for _ in range(5): d.backend.logits(batch_cut, cut)
t7 = time.perf_counter()
"""
        load, first, second, whole, masked = median_of(
            args.repeat, body,
            "(t2 - t1, t3 - t2, t4 - t3, (t6 - t5) / 80 * 1000, (t7 - t6) / 80 * 1000)")
        command = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())",
                   "scan", str(wav), "--format", "jsonl", "--backend", args.backend]
        firsts = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            process.stdout.readline()
            firsts.append(time.perf_counter() - t)
            process.communicate()
        print(f"interpreter start                  {interpreter:6.2f} s")
        print(f"import numpy, soundfile, soxr      {reader:6.2f} s")
        print(f"import torch                       {torch_s:6.2f} s")
        print(f"import onnxruntime                 {ort_s:6.2f} s")
        print(f"Detector() (model load)            {load:6.2f} s   backend {args.backend}")
        print(f"first scan_file, 3 s 48 kHz        {first:6.2f} s")
        print(f"second scan_file, same file        {second:6.2f} s")
        print(f"model per 5 s window, whole        {whole:6.1f} ms  (batch of 16, {os.cpu_count()} threads)")
        print(f"model per 5 s window, 3 s real     {masked:6.1f} ms  (masked statistics: {masked / whole:.2f}x)")
        print(f"command to first row (3 s file)    {statistics.median(firsts):6.2f} s   "
              f"(runs: {', '.join(f'{v:.2f}' for v in firsts)})")
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

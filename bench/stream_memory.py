"""Memory and speed of streaming a long recording through audio.stream_audio + windows.iter_windows.

Writes a synthetic recording of the given length in 60 s pieces (never held
whole), then streams it to 32 kHz mono windows in a fresh child process and
prints the child's peak resident memory, the peak memory traced by
tracemalloc, and the real-time factor.

    python bench/stream_memory.py --minutes 120 --rate 48000 --channels 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, tracemalloc
from audio_artifacts.audio import AudioConfig, stream_audio
from audio_artifacts.windows import WindowSpec, iter_windows
path, block_seconds = sys.argv[1], float(sys.argv[2])
tracemalloc.start()
t0 = time.perf_counter()
n_windows = 0
for window in iter_windows(stream_audio(path, AudioConfig(block_seconds=block_seconds)), WindowSpec(), 32000):
    n_windows += 1
elapsed = time.perf_counter() - t0
print(json.dumps({"windows": n_windows, "seconds": elapsed,
                  "traced_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--subtype", default="PCM_16")
    parser.add_argument("--block-seconds", type=float, default=30.0)
    args = parser.parse_args()

    import numpy as np
    import soundfile as sf

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.wav"
        piece = (0.05 * np.random.default_rng(0).standard_normal((args.rate * 60, args.channels))).astype(np.float32)
        with sf.SoundFile(str(path), "w", args.rate, args.channels, subtype=args.subtype, format="RF64") as out:
            for _ in range(int(args.minutes)):
                out.write(piece)
        done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.block_seconds)],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        duration_s = int(args.minutes) * 60
        decoded_mb = duration_s * args.rate * args.channels * 4 / 1e6
        print(f"recording: {int(args.minutes)} min, {args.rate} Hz, {args.channels} ch, {args.subtype}, "
              f"file {path.stat().st_size / 1e6:.0f} MB, decoded float32 {decoded_mb:.0f} MB")
        print(f"block_seconds {args.block_seconds}: {result['windows']} windows in {result['seconds']:.1f} s "
              f"({duration_s / result['seconds']:.0f}x real time), peak RSS {result['max_rss_mb']:.0f} MB "
              f"(whole process), traced peak {result['traced_peak_mb']:.1f} MB")


if __name__ == "__main__":
    main()

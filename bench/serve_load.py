"""Load figures of the HTTP service: requests/s and latency for 5 s recordings.

Starts ``audio-artifacts serve`` on a free loopback port (or uses ``--url``),
then, for each client count N, runs N concurrent clients that post 5 s
recordings to ``/api/v1/inference/file`` until ``--requests`` answers have
come back or ``--seconds`` have passed, whichever is first. Prints one row
per N: completed requests, errors, requests/s, p50 / p90 / p99 latency.

Examples
--------
    python bench/serve_load.py                        # bundled model, N = 1, 4, 16
    python bench/serve_load.py --model runs/x/model --clients 1 8 --inference-threads 2
    python bench/serve_load.py --url http://127.0.0.1:8000   # a server already running
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]
ENDPOINT = "/api/v1/inference/file"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="use this running server instead of starting one")
    parser.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--inference-threads", type=int, default=1, help="scans at once per worker")
    parser.add_argument("--backend-threads", type=int, default=None, help="compute threads of the backend")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="concurrent client counts")
    parser.add_argument("--requests", type=int, default=100, help="answers per client count (upper bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time per client count (upper bound)")
    parser.add_argument("--recordings", type=int, default=8, help="distinct 5 s recordings to cycle through")
    parser.add_argument("--sample-rate", type=int, default=48000, help="rate of the posted WAV files, Hz")
    args = parser.parse_args(argv)
    if min(args.clients) < 1 or args.requests < 1 or args.seconds <= 0 or args.recordings < 1:
        parser.error("--clients, --requests, --recordings must be >= 1 and --seconds > 0")
    return args


def write_recordings(folder: Path, count: int, rate: int) -> list[bytes]:
    """``count`` 5 s mono PCM_16 WAVs (noise floor, some with a tone or ticks), as bytes."""
    from audio_artifacts.audio import write_audio

    rng = np.random.default_rng(0)
    t = np.arange(5 * rate) / rate
    payloads = []
    for i in range(count):
        x = 0.02 * rng.standard_normal(t.size)
        if i % 3 == 1:
            x += 0.05 * np.sin(2 * np.pi * 3300 * t)
        elif i % 3 == 2:
            x[:: rate // 2] += 0.5
        path = write_audio(folder / f"rec_{i:02d}.wav", x.astype(np.float32), rate, "PCM_16")
        payloads.append(path.read_bytes())
    return payloads


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--backend", args.backend,
           "--workers", str(args.workers), "--inference-threads", str(args.inference_threads),
           "--temp-dir", str(folder / "uploads"), "--log-level", "warning"]
    if args.model:
        cmd += ["--model", args.model]
    if args.backend_threads:
        cmd += ["--backend-threads", str(args.backend_threads)]
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited:\n{(folder / 'server.log').read_text()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    sys.exit("server did not start within 180 s")


async def run_level(url: str, clients: int, payloads: list[bytes], max_requests: int, seconds: float) -> dict:
    """``clients`` concurrent posting loops; stops at ``max_requests`` answers or ``seconds``."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def client_loop(http: httpx.AsyncClient) -> None:
        nonlocal issued, errors
        while issued < max_requests and time.perf_counter() < deadline:
            data = payloads[issued % len(payloads)]
            issued += 1
            start = time.perf_counter()
            response = await http.post(ENDPOINT, files={"file": ("rec.wav", data, "audio/wav")})
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200 or response.json()["status"] != "ok":
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300.0, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        wall = time.perf_counter() - began
    lat = np.asarray(latencies) * 1000.0
    return {
        "clients": clients, "requests": len(latencies), "errors": errors, "wall_s": wall,
        "rps": len(latencies) / wall, "p50": float(np.percentile(lat, 50)),
        "p90": float(np.percentile(lat, 90)), "p99": float(np.percentile(lat, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        folder = Path(tmp)
        (folder / "uploads").mkdir()
        payloads = write_recordings(folder, args.recordings, args.sample_rate)
        process = None
        url = args.url
        if url is None:
            process, url = start_server(args, folder)
        try:
            health = httpx.get(url + "/health", timeout=10).json()
            asyncio.run(run_level(url, 1, payloads, 3, 60))  # warm-up: first calls pay one-off costs
            print(f"model {health['model']['name']} {health['model']['version']} ({health['backend']}), "
                  f"{args.workers} worker(s) x {args.inference_threads} inference thread(s); "
                  f"{platform.machine()} {os.cpu_count()} CPU(s), load avg {os.getloadavg()[0]:.1f}")
            print(f"uploads: 5 s mono PCM_16 WAV at {args.sample_rate} Hz ({len(payloads[0]) / 1e6:.2f} MB), "
                  f"<= {args.requests} requests or <= {args.seconds:g} s per row")
            print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
            for clients in args.clients:
                row = asyncio.run(run_level(url, clients, payloads, args.requests, args.seconds))
                print(f"{row['clients']:>7} {row['requests']:>8} {row['errors']:>6} {row['rps']:>7.2f} "
                      f"{row['p50']:>8.1f} {row['p90']:>8.1f} {row['p99']:>8.1f}", flush=True)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

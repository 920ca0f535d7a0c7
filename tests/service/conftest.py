"""Fixtures of the service tests: a tiny real model, real recordings, a real server.

The server is ``audio-artifacts serve`` in its own process on 127.0.0.1,
spoken to over HTTP with httpx. The model is a small, untrained registry
model saved with ``save_model_dir``; its threshold is placed in the widest
gap between the recordings' probabilities (as computed by the same model in
this process), so every verdict is known in advance and robust to rounding.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from audio_artifacts.audio import write_audio

LOOPBACK = "127.0.0.1"
MAX_UPLOAD_MB = 4.0
START_TIMEOUT_S = 120.0
CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]


# ----------------------------------------------------------------------------- recordings


def _noise(rng: np.random.Generator, rate: int, seconds: float, level: float) -> np.ndarray:
    return level * rng.standard_normal(int(round(rate * seconds)))


def _tone(rate: int, seconds: float, freq: float, level: float) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return level * np.sin(2 * np.pi * freq * t)


def _clicks(rate: int, seconds: float, every_s: float, level: float) -> np.ndarray:
    x = np.zeros(int(round(rate * seconds)))
    x[:: int(every_s * rate)] = level
    return x


def _write_recordings(folder: Path) -> dict[str, Path]:
    """Varied, valid recordings: rates, channels, formats, lengths (2 s .. 12 s)."""
    rng = np.random.default_rng(7)
    specs: dict[str, tuple[np.ndarray, int, str | None]] = {
        "quiet_noise.wav": (_noise(rng, 32000, 5, 0.003), 32000, "PCM_16"),
        "loud_noise.wav": (_noise(rng, 32000, 5, 0.3), 32000, "PCM_16"),
        "mid_noise_16k.wav": (_noise(rng, 16000, 5, 0.05), 16000, "PCM_24"),
        "whine_3k_48k_stereo.wav": (
            np.stack([_tone(48000, 5, 3000, 0.2), _tone(48000, 5, 3000, 0.1)], axis=1)
            + _noise(rng, 48000, 5, 0.01)[:, None],
            48000,
            "PCM_16",
        ),
        "hum_1k.flac": (_tone(44100, 5, 1000, 0.4) + _noise(rng, 44100, 5, 0.02), 44100, "PCM_16"),
        "ticks_2hz.wav": (_clicks(32000, 5, 0.5, 0.8) + _noise(rng, 32000, 5, 0.01), 32000, "PCM_16"),
        "buzz_217hz.wav": (np.sign(_tone(32000, 5, 217, 1.0)) * 0.1 + _noise(rng, 32000, 5, 0.01), 32000, "FLOAT"),
        "short_2s.wav": (_noise(rng, 32000, 2, 0.1), 32000, "PCM_16"),
        "long_12s.wav": (
            np.concatenate([_noise(rng, 32000, 6, 0.01), _tone(32000, 6, 4400, 0.3)]),
            32000,
            "PCM_16",
        ),
        "chirp_22k.wav": (
            0.3 * np.sin(2 * np.pi * np.cumsum(np.linspace(200, 8000, 22050 * 5)) / 22050),
            22050,
            "PCM_16",
        ),
        "silence_8k.wav": (np.zeros(8000 * 5), 8000, "PCM_16"),
        "pumping_noise.wav": (_noise(rng, 32000, 5, 0.1) * (1 + 0.9 * _tone(32000, 5, 2, 1.0)), 32000, "PCM_16"),
    }
    paths = {}
    for name, (samples, rate, subtype) in specs.items():
        paths[name] = write_audio(folder / name, np.clip(samples, -1, 1).astype(np.float32), rate, subtype)
    # What an Audio Precision APx500 recorder exports: 24-bit WAVE_FORMAT_EXTENSIBLE.
    apx = folder / "apx_unit7_V212-Tx_wavex24.wav"
    stereo = np.stack([_noise(rng, 48000, 6, 0.02) + _tone(48000, 6, 2000, 0.05), _noise(rng, 48000, 6, 0.02)], 1)
    sf.write(apx, stereo, 48000, subtype="PCM_24", format="WAVEX")
    paths[apx.name] = apx
    return paths


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """File name -> path of 13 valid recordings."""
    return _write_recordings(tmp_path_factory.mktemp("recordings"))


@pytest.fixture(scope="session")
def broken_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files that cannot be scanned: text, a truncated WAV, a WAV-named text, a WAV with a NaN."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "notes.txt").write_text("measurement notes, not audio\n" * 20)
    (folder / "fake.wav").write_text("RIFF? no, just text pretending to be a WAV file\n")
    good = write_audio(folder / "full.wav", np.zeros(32000, dtype=np.float32), 32000)
    (folder / "truncated.wav").write_bytes(good.read_bytes()[:30])
    good.unlink()
    with_nan = np.zeros(32000 * 2, dtype=np.float32)
    with_nan[40000] = np.nan
    write_audio(folder / "nan_at_1.25s.wav", with_nan, 32000, "FLOAT")
    return {p.name: p for p in folder.iterdir()}


@pytest.fixture(scope="session")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 minutes at 4 kHz, 8 bit (3.84 MB): under the 4 MiB limit, 256 windows to scan."""
    rng = np.random.default_rng(3)
    samples = (0.2 * rng.standard_normal(4000 * 960)).astype(np.float32)
    return write_audio(tmp_path_factory.mktemp("long") / "long_16min.wav", samples, 4000, "PCM_U8")


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ServedModel:
    directory: Path
    threshold: float
    # file name -> ScanResult.to_dict() from Detector.scan_file at `threshold`
    reference: dict[str, dict]


def _widest_gap_threshold(probabilities: list[float]) -> float:
    """Midpoint of the widest gap between sorted probabilities in the middle half."""
    p = np.sort(np.asarray(probabilities))
    n = len(p)
    lo, hi = max(1, n // 4), min(n - 1, (3 * n) // 4)
    gaps = p[lo : hi + 1] - p[lo - 1 : hi]
    k = int(np.argmax(gaps))
    assert gaps[k] > 1e-5, f"recordings' probabilities are too close to split: {p.tolist()}"
    return float((p[lo - 1 + k] + p[lo + k]) / 2)


def _tiny_model():
    from audio_artifacts.models.registry import build_model

    import torch

    torch.manual_seed(0)
    return build_model("fast")


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory, recordings: dict[str, Path]) -> ServedModel:
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.windows import WindowSpec

    directory = tmp_path_factory.mktemp("model")
    model = _tiny_model()
    info = ModelInfo(
        name="service-test",
        version="0.0.1",
        architecture="fast",
        arguments=model.arguments(),
        sample_rate=32000,
        window=WindowSpec(),
        threshold=0.5,
        package_version="test",
    )
    save_model_dir(directory, model, info)
    first = Detector(directory, backend="torch")
    probabilities = [first.scan_file(p).probability for p in recordings.values()]
    info.threshold = _widest_gap_threshold(probabilities)
    save_model_dir(directory, model, info)
    detector = Detector(directory, backend="torch")
    from audio_artifacts.results.schema import FileIdentity

    # the service adds the identity of the bytes it scanned (size and SHA-256; no mtime for an upload)
    reference = {name: {**detector.scan_file(path, display_name=name).to_dict(),
                        "identity": FileIdentity.of(path, with_mtime=False).to_dict()}
                 for name, path in recordings.items()}
    verdicts = {r["verdict"] for r in reference.values()}
    assert verdicts == {"artifact", "no_artifact"}, reference
    return ServedModel(directory, info.threshold, reference)


@pytest.fixture(scope="session")
def cli_scan_rows(tmp_path_factory: pytest.TempPathFactory, served_model: ServedModel, recordings: dict[str, Path]) -> dict[str, dict]:
    """``audio-artifacts scan --out rows.jsonl`` on the recordings: file name -> row."""
    out = tmp_path_factory.mktemp("scan") / "rows.jsonl"
    cmd = [*CLI, "scan", *map(str, recordings.values()), "--model", str(served_model.directory),
           "--backend", "torch", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {Path(row["path"]).name: row for row in rows}


# ----------------------------------------------------------------------------- server


@dataclass
class Server:
    base_url: str
    host: str
    port: int
    process: subprocess.Popen
    temp_dir: Path
    log_path: Path
    max_upload_mb: float

    def url(self, path: str) -> str:
        return self.base_url + path

    def upload_root(self) -> Path:
        (root,) = list(self.temp_dir.glob("audio-artifacts-uploads-*"))
        return root

    def leftovers(self) -> list[Path]:
        """Everything still stored under the service's upload folder."""
        return sorted(self.upload_root().rglob("*"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_server(self)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_server(extra_args: list[str], folder: Path, max_upload_mb: float = MAX_UPLOAD_MB) -> Server:
    """``audio-artifacts serve`` on a free loopback port; returns once /health answers."""
    temp_dir = folder / "uploads"
    temp_dir.mkdir()
    log_path = folder / "server.log"
    port = free_port()
    cmd = [*CLI, "serve", "--host", LOOPBACK, "--port", str(port), "--temp-dir", str(temp_dir),
           "--log-level", "warning", "--max-upload-mb", str(max_upload_mb), *extra_args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://{LOOPBACK}:{port}", LOOPBACK, port, process, temp_dir, log_path, max_upload_mb)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url("/health"), timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server did not answer /health within {START_TIMEOUT_S} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=20)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, served_model: ServedModel):
    """The service on loopback with the tiny model, a 4 MiB limit and 2 inference threads."""
    srv = start_server(
        ["--model", str(served_model.directory), "--backend", "torch",
         "--inference-threads", "2", "--max-batch-files", "8", "--max-pending", "64"],
        tmp_path_factory.mktemp("server"),
    )
    yield srv
    stop_server(srv)
    # Shutting down removes the service's own upload folder too.
    assert list(srv.temp_dir.iterdir()) == []


@pytest.fixture
def client(server: Server):
    with httpx.Client(base_url=server.base_url, timeout=120.0) as http:
        yield http
    # Every request has ended: nothing of any upload may be left on disk.
    assert server.leftovers() == []


@pytest.fixture
def launch(tmp_path: Path):
    """``launch(extra_args, name)``: a server of this test only (stopped at its end)."""
    started: list[Server] = []

    def start(extra_args: list[str], name: str = "srv") -> Server:
        (tmp_path / name).mkdir()
        srv = start_server(extra_args, tmp_path / name)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        stop_server(srv)


@pytest.fixture(scope="session")
def serve_command() -> list[str]:
    """The command line that runs ``audio-artifacts`` in a fresh interpreter."""
    return list(CLI)


@pytest.fixture
def unused_port() -> int:
    return free_port()

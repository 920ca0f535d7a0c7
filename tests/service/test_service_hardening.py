"""Authentication, timeouts, back-pressure, graceful shutdown, access log and --results,
each against its own real ``audio-artifacts serve`` process on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from audio_artifacts.cli import main

LOOPBACK = "127.0.0.1"
FILE = "/api/v1/inference/file"
TOKEN = "station-secret-0123456789abcdef"


def _post(client: httpx.Client, path: Path, **kwargs) -> httpx.Response:
    with open(path, "rb") as handle:
        return client.post(FILE, files={"file": (path.name, handle, "audio/wav")}, **kwargs)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _access_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token.txt"
    path.write_text(TOKEN + "\n")
    return path


def test_token_is_required_health_stays_open_and_the_log_never_holds_it(
    tmp_path: Path, launch, served_model, recordings: dict[str, Path], token_file: Path
) -> None:
    access, results = tmp_path / "access.jsonl", tmp_path / "verdicts.jsonl"
    srv = launch(["--model", str(served_model.directory), "--backend", "torch",
                  "--token-file", str(token_file), "--access-log", str(access), "--results", str(results)])
    try:
        recording = recordings["loud_noise.wav"]
        with httpx.Client(base_url=srv.base_url, timeout=60) as client:
            health = client.get("/health").json()
            assert health == {"status": "ok", "model": {"name": "service-test", "version": "0.0.1",
                                                       "backend": "torch"}}
            full = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            assert full["threshold"] == pytest.approx(served_model.threshold)
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                            {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
                refused = _post(client, recording, headers=headers)
                assert refused.status_code == 401, refused.text
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert "token" in refused.json()["detail"]
            answered = _post(client, recording, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answered.status_code == 200, answered.text
            assert answered.json()["verdict"] == served_model.reference["loud_noise.wav"]["verdict"]
            request_id = answered.headers["x-request-id"]
    finally:
        srv.stop()
    lines = _access_lines(access)
    while lines[0]["path"] == "/health" and len(lines) > 7:
        lines.pop(0)  # start_server's readiness probes
    assert len(lines) == 7  # two /health, four refused, one answered: one line each
    assert [line["status"] for line in lines] == [200, 200, 401, 401, 401, 401, 200]
    last = lines[-1]
    assert last["request_id"] == request_id and last["client"].startswith(LOOPBACK + ":")
    assert last["uploads"] == [{"name": "loud_noise.wav", "bytes": recording.stat().st_size}]
    assert last["verdicts"] == [answered.json()["verdict"]] and last["duration_ms"] > 0
    text = access.read_text()
    assert TOKEN not in text and "RIFF" not in text
    assert TOKEN not in srv.log()
    # --results holds exactly the answered verdict, as a scan row
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert row == answered.json()


def test_port_taken_and_unauthenticated_lan_refused_with_their_own_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, token_file: Path, unused_port: int
) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 5
    assert f"{LOOPBACK}:{port}: the port is already in use" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--port", str(unused_port)]) == 2
    assert "--allow-unauthenticated" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["serve", "--token-file", str(empty)]) == 2
    assert "one line" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("abc")
    assert main(["serve", "--token-file", str(short)]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert main(["serve", "--ssl-certfile", str(token_file)]) == 2
    assert "go together" in capsys.readouterr().err


def test_tls_with_token(tmp_path: Path, served_model, recordings: dict[str, Path], token_file: Path,
                        serve_command: list[str], unused_port: int) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                           "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)], capture_output=True, timeout=60)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate: {made.stderr[-200:]!r}")
    port = unused_port
    cmd = [*serve_command, "serve", "--host", LOOPBACK,
           "--port", str(port), "--model", str(served_model.directory), "--backend", "torch",
           "--token-file", str(token_file), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
           "--log-level", "warning", "--access-log", "off"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"https://{LOOPBACK}:{port}"
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=60) as client:
            while True:
                assert process.poll() is None and time.monotonic() < deadline, "TLS server did not start"
                try:
                    client.get("/health")
                    break
                except httpx.ConnectError as exc:
                    assert "CERTIFICATE" not in str(exc), exc
                    time.sleep(0.2)
            assert _post(client, recordings["short_2s.wav"]).status_code == 401
            assert _post(client, recordings["short_2s.wav"],
                         headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port gets nowhere
            httpx.get(f"http://{LOOPBACK}:{port}/health", timeout=5).raise_for_status()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_stalled_clients_are_dropped_within_the_read_timeout(launch, served_model, recordings) -> None:
    srv = launch(["--model", str(served_model.directory), "--backend", "torch", "--read-timeout", "1"])
    try:
        data = recordings["long_12s.wav"].read_bytes()
        boundary = "stall-b"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"unit.wav\"\r\n\r\n"
                ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        request_head = (f"POST {FILE} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}"
                        f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        cases = {
            "half a request line": b"POST /api/v1/infer",
            "headers without their end": request_head[:-2],
            "headers and half the body": request_head + body[: len(body) // 2],
            "nothing at all": b"",
        }
        for what, sent in cases.items():
            with socket.create_connection((LOOPBACK, srv.port), timeout=10) as sock:
                sock.sendall(sent)
                started = time.monotonic()
                answer = b""
                while chunk := sock.recv(65536):  # until the server closes the connection
                    answer += chunk
                waited = time.monotonic() - started
            assert 0.8 < waited < 4.0, (what, waited)
            print(f"stall: {what}: dropped after {waited:.2f} s")
            if what == "headers and half the body":
                assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
                assert b"no request data for 1 s" in answer
            time.sleep(0.2)
            assert srv.leftovers() == [], what  # the half-received upload is gone
        # the service still answers normally
        with httpx.Client(base_url=srv.base_url, timeout=60) as client:
            assert _post(client, recordings["short_2s.wav"]).status_code == 200
    finally:
        srv.stop()


def test_burst_of_100_uploads_gets_200_or_503_at_once_and_memory_stays_bounded(
    tmp_path: Path, launch, served_model, recordings: dict[str, Path]
) -> None:
    access = tmp_path / "access.jsonl"
    srv = launch(["--model", str(served_model.directory), "--backend", "torch", "--max-pending", "3",
                  "--inference-threads", "1", "--access-log", str(access)])
    try:
        recording = recordings["long_12s.wav"]  # 12 s, 768 kB
        data = recording.read_bytes()
        with httpx.Client(base_url=srv.base_url, timeout=60) as client:
            assert _post(client, recording).status_code == 200  # warm
        rss_before = _peak_rss_mib(srv.process.pid)

        async def one(client: httpx.AsyncClient) -> tuple[int, str | None, float]:
            started = time.monotonic()
            response = await client.post(FILE, files={"file": ("burst.wav", data, "audio/wav")})
            return response.status_code, response.headers.get("retry-after"), time.monotonic() - started

        async def burst() -> list[tuple[int, str | None, float]]:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=120, limits=limits) as client:
                return await asyncio.wait_for(asyncio.gather(*(one(client) for _ in range(100))), timeout=180)

        answers = asyncio.run(burst())
        rss_after = _peak_rss_mib(srv.process.pid)
    finally:
        srv.stop()
    codes = [code for code, _, _ in answers]
    assert set(codes) <= {200, 503} and codes.count(200) >= 3 and codes.count(503) >= 1, codes
    assert all(retry == "1" for code, retry, _ in answers if code == 503)
    refused_latency = sorted(t for code, _, t in answers if code == 503)
    lines = [line for line in _access_lines(access) if line["path"] == FILE]
    assert len(lines) == 101 and sorted(line["status"] for line in lines[1:]) == sorted(codes)
    # a refusal is decided before the body is read: nothing of it was received
    assert all(line["received_bytes"] == 0 for line in lines if line["status"] == 503)
    assert rss_after - rss_before < 150, (rss_before, rss_after)
    print(f"burst: {codes.count(200)} x 200, {codes.count(503)} x 503, 503 median "
          f"{1000 * refused_latency[len(refused_latency) // 2]:.0f} ms; peak RSS {rss_before:.0f} -> {rss_after:.0f} MiB")


def test_sigterm_lets_uploads_in_progress_finish_and_leaves_no_files(
    launch, served_model, long_recording: Path
) -> None:
    srv = launch(["--model", str(served_model.directory), "--backend", "torch", "--inference-threads", "1",
                  "--shutdown-grace", "60"])
    data = long_recording.read_bytes()

    async def one(client: httpx.AsyncClient) -> int:
        response = await client.post(FILE, files={"file": ("long.wav", data, "audio/wav")})
        return response.status_code

    async def uploads_then_sigterm() -> list[int]:
        async with httpx.AsyncClient(base_url=srv.base_url, timeout=120) as client:
            tasks = [asyncio.create_task(one(client)) for _ in range(4)]
            deadline = time.monotonic() + 30
            while not list(srv.temp_dir.rglob("upload-*")) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # an upload is on disk: requests are in progress
            srv.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            with pytest.raises(ConnectionRefusedError):  # new connections are refused at once
                socket.create_connection((LOOPBACK, srv.port), timeout=5).close()
            assert not all(task.done() for task in tasks)  # ... while uploads are still in progress
            return await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)

    try:
        codes = asyncio.run(uploads_then_sigterm())
        assert srv.process.wait(timeout=60) == 0
    finally:
        srv.stop()
    assert codes == [200] * 4, codes
    assert list(srv.temp_dir.iterdir()) == []  # uploads and the service's own folder removed
    with pytest.raises(httpx.TransportError):  # and nothing listens any more
        httpx.get(srv.url("/health"), timeout=5)
    assert os.path.exists(srv.log_path)

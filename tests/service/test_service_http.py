"""The service over real HTTP: a uvicorn process on loopback, a tiny real model.

Every answer is compared with what ``scan`` (the CLI's JSONL and
``Detector.scan_file``) says about the same file; only ``path`` differs
(the upload's name instead of a server path).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from audio_artifacts.results.schema import Span, merge_events

FILE = "/api/v1/inference/file"
BATCH = "/api/v1/inference/batch"


def without_path(row: dict) -> dict:
    """The row without what differs between an upload and the scanned file: its name and mtime."""
    kept = {k: v for k, v in row.items() if k != "path"}
    if kept.get("identity"):
        kept["identity"] = {k: v for k, v in kept["identity"].items() if k != "mtime_ns"}
    return kept


def same_result(row: dict, reference: dict) -> bool:
    """Equal except ``path``: every field, window and event; numbers to float32 rounding.

    Two processes can differ in the last bits of a logit (MKL picks code paths
    by buffer alignment), so probabilities are compared to 1e-6, not bit for bit;
    the threshold sits in a gap far wider than that, so verdicts must match exactly.
    """
    return _same(without_path(row), without_path(reference))


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == pytest.approx(b, rel=1e-6, abs=1e-9)
    return a == b


def post_file(client: httpx.Client, path: Path, name: str | None = None, **kwargs) -> httpx.Response:
    with open(path, "rb") as handle:
        return client.post(FILE, files={"file": (name or path.name, handle, "audio/wav")}, **kwargs)


def raw_multipart(field: str, filename: bytes, data: bytes, boundary: str) -> bytes:
    """A one-part multipart body with the file name exactly as given (no client escaping)."""
    return (f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="' + field.encode() + b'"; filename="' + filename + b'"\r\n\r\n'
            + data + f"\r\n--{boundary}--\r\n".encode())


def multipart_stream(path: Path, name: str, boundary: str, sent: threading.Event | None = None) -> Iterator[bytes]:
    """A multipart body for field ``file``, yielded in 64 KiB chunks (chunked upload)."""
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
           "Content-Type: audio/wav\r\n\r\n").encode()
    with open(path, "rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()
    if sent is not None:
        sent.set()


# ----------------------------------------------------------------------------- basics


def test_health_names_the_model_and_threshold(client: httpx.Client, server: Server, served_model: ServedModel) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"] == {"name": "service-test", "version": "0.0.1", "backend": body["backend"]}
    assert body["threshold"] == pytest.approx(served_model.threshold, abs=1e-12)
    assert body["backend"] == "torch"
    assert body["max_upload_mb"] == server.max_upload_mb
    assert (body["window_s"], body["hop_s"], body["sample_rate"]) == (5.0, 3.75, 32000)


def test_openapi_docs_list_the_endpoints(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/health", FILE, BATCH} <= set(spec["paths"])
    body = spec["paths"][FILE]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["file"]["format"] == "binary"


def test_single_file_answers_equal_scan(
    client: httpx.Client, recordings: dict[str, Path], served_model: ServedModel, cli_scan_rows: dict[str, dict]
) -> None:
    rows = []
    for name, path in recordings.items():
        response = post_file(client, path)
        assert response.status_code == 200, response.text
        row = response.json()
        assert row["path"] == name
        assert same_result(row, cli_scan_rows[name]), (row, cli_scan_rows[name])
        assert same_result(row, served_model.reference[name]), (row, served_model.reference[name])
        rows.append(row)
    # The verdicts split at the model's threshold, and both verdicts occur.
    for row in rows:
        assert row["threshold"] == served_model.threshold
        assert row["verdict"] == ("artifact" if row["probability"] >= served_model.threshold else "no_artifact")
    assert {r["verdict"] for r in rows} == {"artifact", "no_artifact"}


def test_request_threshold_redecides_without_changing_probabilities(
    client: httpx.Client, recordings: dict[str, Path], served_model: ServedModel
) -> None:
    path = recordings["long_12s.wav"]
    reference = served_model.reference["long_12s.wav"]
    window_probs = sorted(w["probability"] for w in reference["windows"])
    assert len(window_probs) == 3
    # Thresholds between the window probabilities (never on one: last-bit noise), and the ends.
    between = [(a + b) / 2 for a, b in zip(window_probs, window_probs[1:]) if b - a > 1e-5]
    assert between, window_probs
    for threshold in (0.0, *between, 1.0):
        for kwargs in ({"params": {"threshold": threshold}}, {"data": {"threshold": repr(threshold)}}):
            row = post_file(client, path, **kwargs).json()
            assert row["threshold"] == threshold
            assert row["probability"] == pytest.approx(reference["probability"], rel=1e-6)
            assert same_result({**row, "threshold": None, "verdict": None, "triggered_at": None, "events": None},
                               {**reference, "threshold": None, "verdict": None, "triggered_at": None, "events": None})
            flagged = [w for w in reference["windows"] if w["probability"] >= threshold]
            assert row["verdict"] == ("artifact" if flagged else "no_artifact")
            assert row["triggered_at"] == (flagged[0]["start"] if flagged else None)
            # events are described anew at the request's threshold: the first lies inside the
            # first run of flagged windows, or just around it (inference.describe.MARGIN_S)
            assert len(row["events"][:1]) == len(flagged[:1])
            runs = merge_events([Span.coerce(w) for w in reference["windows"]], threshold)
            for event, run in zip(row["events"][:1], runs[:1]):
                assert run.start - 1.5 - 1e-6 <= event["start"] <= event["end"] <= run.end + 1.5 + 1e-6, (event, run)


def test_bad_threshold_and_missing_field_are_422(client: httpx.Client, recordings: dict[str, Path]) -> None:
    path = recordings["short_2s.wav"]
    for kwargs in ({"params": {"threshold": 1.5}}, {"data": {"threshold": "high"}}, {"data": {"threshold": "-0.1"}}):
        assert post_file(client, path, **kwargs).status_code == 422
    with open(path, "rb") as handle:
        wrong_field = client.post(FILE, files={"recording": ("a.wav", handle)})
    assert wrong_field.status_code == 422 and "'file'" in wrong_field.json()["detail"]
    no_file = client.post(FILE, data={"threshold": "0.5"}, files={})
    assert no_file.status_code in (415, 422)


def test_client_file_names_are_sanitised_never_paths(
    client: httpx.Client, recordings: dict[str, Path], server: Server, tmp_path: Path
) -> None:
    target = tmp_path / "escaped.wav"
    hostile = {
        f"../../../../..{target}".encode(): "escaped.wav",
        b"C:\\stations\\station 3\\rec.wav": "rec.wav",
        b"bell\x07\ttab\x1b.wav": "belltab.wav",
        b"..": "upload",
        b"": "upload",
        "Gerät 7 – Höhe.wav".encode(): "Gerät 7 – Höhe.wav",
    }
    data = recordings["short_2s.wav"].read_bytes()
    boundary = "name-test-boundary"
    for sent, shown in hostile.items():
        response = client.post(FILE, content=raw_multipart("file", sent, data, boundary),
                               headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert response.status_code == 200, (sent, response.text)
        assert response.json()["path"] == shown
    assert not target.exists()


# ----------------------------------------------------------------------------- bad input


def test_not_audio_is_415_naming_the_upload(client: httpx.Client, broken_files: dict[str, Path]) -> None:
    for name in ("notes.txt", "fake.wav", "truncated.wav"):
        response = post_file(client, broken_files[name])
        assert response.status_code == 415, response.text
        detail = response.json()["detail"]
        assert name in detail and "not a recording" in detail
        assert "/" not in detail.replace(name, "")  # no server path in the message


def test_audio_that_cannot_be_scanned_is_422_naming_the_upload_and_time(
    client: httpx.Client, broken_files: dict[str, Path]
) -> None:
    response = post_file(client, broken_files["nan_at_1.25s.wav"])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "nan_at_1.25s.wav" in detail and "non-finite" in detail and "1.250 s" in detail


def test_batch_keeps_order_and_isolates_broken_files(
    client: httpx.Client, recordings: dict[str, Path], broken_files: dict[str, Path], served_model: ServedModel
) -> None:
    order = [recordings["loud_noise.wav"], broken_files["notes.txt"], recordings["quiet_noise.wav"],
             broken_files["truncated.wav"], recordings["long_12s.wav"], broken_files["nan_at_1.25s.wav"]]
    handles = [open(p, "rb") for p in order]
    try:
        response = client.post(BATCH, files=[("files", (p.name, h)) for p, h in zip(order, handles)])
    finally:
        for h in handles:
            h.close()
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["path"] for r in rows] == [p.name for p in order]
    assert [r["status"] for r in rows] == ["ok", "error", "ok", "error", "ok", "error"]
    for row in rows:
        if row["status"] == "ok":
            assert same_result(row, served_model.reference[row["path"]])
        else:
            assert row["error"].startswith(row["path"] + ":") and row["verdict"] is None
            assert "/" not in row["error"].replace(row["path"], "")


def test_batch_limits(client: httpx.Client, recordings: dict[str, Path]) -> None:
    data = recordings["short_2s.wav"].read_bytes()
    too_many = client.post(BATCH, files=[("files", (f"{i}.wav", data)) for i in range(9)])
    assert too_many.status_code == 413 and "at most 8" in too_many.json()["detail"]
    wrong_field = client.post(BATCH, files={"file": ("a.wav", data)})
    assert wrong_field.status_code == 422


def test_oversize_uploads_get_413_while_streaming(client: httpx.Client, server: Server, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * int((server.max_upload_mb + 1) * 2**20))
    # With Content-Length: refused up front.
    declared = post_file(client, big)
    assert declared.status_code == 413
    # Chunked, no Content-Length: refused once the received bytes pass the limit.
    boundary = "limit-test-boundary"
    streamed = client.post(FILE, content=multipart_stream(big, "big.wav", boundary),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert "big.wav" in streamed.json()["detail"] and "limit" in streamed.json()["detail"]
    assert client.get("/health").status_code == 200


def test_request_that_is_not_multipart_is_415(client: httpx.Client) -> None:
    response = client.post(FILE, content=b"\x00\x01", headers={"content-type": "audio/wav"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["detail"]


def test_no_endpoint_takes_a_server_path(client: httpx.Client, recordings: dict[str, Path]) -> None:
    path = str(recordings["loud_noise.wav"])
    for params in ({"path": path}, {"file": path}, {"url": f"file://{path}"}):
        response = client.post(FILE, params=params)
        assert response.status_code in (415, 422)
    assert client.get("/api/v1/inference/file", params={"path": path}).status_code == 405


# ----------------------------------------------------------------------------- load and liveness


def test_fifty_concurrent_uploads_all_get_their_own_answer(
    server: Server, client: httpx.Client, recordings: dict[str, Path], served_model: ServedModel
) -> None:
    names = sorted(recordings)
    jobs = [(f"{i:02d}_{names[i % len(names)]}", recordings[names[i % len(names)]]) for i in range(50)]

    async def upload_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120.0, limits=limits) as http:
            return await asyncio.gather(*(
                http.post(FILE, files={"file": (sent, path.read_bytes(), "audio/wav")}) for sent, path in jobs
            ))

    responses = asyncio.run(upload_all())
    assert [r.status_code for r in responses] == [200] * 50
    for (sent, path), response in zip(jobs, responses):
        row = response.json()
        assert row["path"] == sent
        assert same_result(row, served_model.reference[path.name])


def test_health_answers_while_a_long_recording_is_scanned(server: Server, client: httpx.Client, long_recording: Path) -> None:
    """/health keeps answering quickly while a 16-minute recording is being scanned.

    If the scan blocked the event loop, a /health call made during it would
    wait for the whole scan; so the slowest /health answer must be a small
    fraction of the long request's time (a ratio, not a time limit).
    """
    sent = threading.Event()
    boundary = "long-recording-boundary"
    finished_at: list[float] = []

    def scan_long() -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=300.0) as http:
            response = http.post(FILE, content=multipart_stream(long_recording, long_recording.name, boundary, sent),
                                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
            finished_at.append(time.perf_counter())
            return response

    health_seconds: list[float] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(scan_long)
        assert sent.wait(timeout=120), "the long upload was never sent"
        sent_at = time.perf_counter()
        for _ in range(5):  # bounded: five /health calls while the scan runs
            start = time.perf_counter()
            assert client.get("/health", timeout=300).status_code == 200
            health_seconds.append(time.perf_counter() - start)
        still_scanning = not future.done()
        response = future.result(timeout=300)
    assert response.status_code == 200, response.text
    row = response.json()
    assert row["path"] == long_recording.name and row["duration_s"] == 960.0
    assert len(row["windows"]) == 256  # 0, 3.75, ... 952.5, and one aligned to the end
    long_request_seconds = finished_at[0] - sent_at
    assert still_scanning, "the scan ended before five /health calls: make the recording longer"
    assert max(health_seconds) < 0.25 * long_request_seconds, (health_seconds, long_request_seconds)


def test_client_that_disconnects_mid_upload_leaves_nothing(server: Server, long_recording: Path) -> None:
    boundary = "disconnect-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.wav"\r\n\r\n').encode()
    payload = long_recording.read_bytes()
    total = len(head) + len(payload) + len(f"\r\n--{boundary}--\r\n")
    request = (f"POST {FILE} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n").encode()
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(request + head + payload[: 512 * 1024])
        for _ in range(200):  # wait (bounded) until the partial upload is on disk
            if any(p.is_file() for p in server.leftovers()):
                break
            time.sleep(0.05)
        assert any(p.is_file() for p in server.leftovers()), "the partial upload never reached the disk"
    for _ in range(400):  # and (bounded) until the server has removed it
        if not server.leftovers():
            break
        time.sleep(0.05)
    assert server.leftovers() == []
    assert httpx.get(server.url("/health"), timeout=30).status_code == 200


def test_events_carry_what_was_found_in_file_and_batch_answers(
    client: httpx.Client, recordings: dict[str, Path]
) -> None:
    """At threshold 0 every window is flagged; the event is described from the upload (a 1 kHz hum)."""
    row = post_file(client, recordings["hum_1k.flac"], params={"threshold": 0.0}).json()
    (event,) = row["events"]
    assert set(event) >= {"type", "type_probabilities", "frequencies_hz", "period_s", "level_db", "band_hz"}
    assert any(abs(f - 1000.0) <= 2.0 for f in event["frequencies_hz"]), event
    assert event["band_hz"][0] <= 1000.0 <= event["band_hz"][1] and event["level_db"] > 10
    with open(recordings["hum_1k.flac"], "rb") as a, open(recordings["buzz_217hz.wav"], "rb") as b:
        answer = client.post(BATCH, params={"threshold": 0.0},
                             files=[("files", ("hum_1k.flac", a)), ("files", ("buzz_217hz.wav", b))])
    assert answer.status_code == 200, answer.text
    hum, buzz = answer.json()
    assert hum["events"] == row["events"]
    assert any(abs(f - 217.0) <= 2.0 for f in buzz["events"][0]["frequencies_hz"]), buzz["events"]

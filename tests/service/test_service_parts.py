"""Service parts without a server: file-name sanitising, upload parsing, config, CLI options."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_artifacts.cli import main
from audio_artifacts.results.schema import ScanResult
from audio_artifacts.service.config import ServiceConfig
from audio_artifacts.service.scanning import with_threshold
from audio_artifacts.service.uploads import UploadError, UploadLimits, receive_form, sanitise_filename


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_sanitised_names_are_plain_printable_file_names(raw: str) -> None:
    name = sanitise_filename(raw)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name
    assert all(ch.isprintable() for ch in name)
    assert len(name) <= 200


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("rec.wav", "rec.wav"),
        ("../../etc/passwd", "passwd"),
        ("C:\\APx\\exports\\unit 7 - V212-Tx.wav", "unit 7 - V212-Tx.wav"),
        ("", "upload"),
        (None, "upload"),
        ("folder/", "upload"),
        ("a" * 300 + ".flac", "a" * 195 + ".flac"),
    ],
)
def test_sanitise_examples(raw: str | None, shown: str) -> None:
    assert sanitise_filename(raw) == shown


def _body(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _receive(body: bytes, parent: Path, limits: UploadLimits, chunk: int = 7, length: bool = False):
    """Parse ``body`` into a fresh folder under ``parent`` (as the app does per request)."""
    folder = Path(tempfile.mkdtemp(dir=parent))
    return asyncio.run(receive_form(
        "multipart/form-data; boundary=b0undary", str(len(body)) if length else None,
        _chunks(body, chunk), folder, ("files",), limits,
    ))


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_files_are_stored_under_our_names_with_their_bytes(tmp_path: Path, chunk: int) -> None:
    payloads = [b"RIFF" + bytes(range(256)) * 3, b"", b"\r\n--b0undar" * 5]
    body = _body([("files", "../../x.wav", payloads[0]), ("threshold", None, b"0.25"),
                  ("files", "b.FLAC", payloads[1]), ("files", "no-extension", payloads[2])])
    form = _receive(body, tmp_path, UploadLimits(max_file_bytes=10_000, max_files=3), chunk=chunk)
    assert form.fields == {"threshold": "0.25"}
    assert [f.filename for f in form.files] == ["x.wav", "b.FLAC", "no-extension"]
    assert [f.path.name for f in form.files] == ["upload-0000.wav", "upload-0001.flac", "upload-0002"]
    assert [f.path.read_bytes() for f in form.files] == payloads
    assert [f.size for f in form.files] == [len(p) for p in payloads]
    assert sorted(form.files[0].path.parent.iterdir()) == [f.path for f in form.files]


def test_limits_are_enforced_on_received_bytes(tmp_path: Path) -> None:
    limits = UploadLimits(max_file_bytes=1000, max_files=2)
    with pytest.raises(UploadError) as too_big:
        _receive(_body([("files", "big.wav", b"x" * 1001)]), tmp_path, limits)
    assert too_big.value.status_code == 413 and "big.wav" in too_big.value.message
    with pytest.raises(UploadError) as declared:
        _receive(_body([("files", "big.wav", b"x" * 100_000)]), tmp_path, limits, length=True)
    assert declared.value.status_code == 413
    with pytest.raises(UploadError) as too_many:
        _receive(_body([("files", f"{i}.wav", b"x") for i in range(3)]), tmp_path, limits)
    assert too_many.value.status_code == 413 and "at most 2" in too_many.value.message
    with pytest.raises(UploadError) as field:
        _receive(_body([("threshold", None, b"1" * 2000)]), tmp_path, limits)
    assert field.value.status_code == 413
    # Exactly at the limit is fine.
    assert _receive(_body([("files", "ok.wav", b"x" * 1000)]), tmp_path, limits).files[0].size == 1000


def test_malformed_and_wrong_requests(tmp_path: Path) -> None:
    limits = UploadLimits(max_file_bytes=1000, max_files=2)
    with pytest.raises(UploadError) as wrong_field:
        _receive(_body([("file", "a.wav", b"x")]), tmp_path, limits)
    assert wrong_field.value.status_code == 422 and "'files'" in wrong_field.value.message
    with pytest.raises(UploadError) as cut:
        _receive(_body([("files", "a.wav", b"x" * 100)])[:-20], tmp_path, limits)
    assert cut.value.status_code == 400
    with pytest.raises(UploadError) as not_multipart:
        asyncio.run(receive_form("application/json", None, _chunks(b"{}", 2), tmp_path, ("files",), limits))
    assert not_multipart.value.status_code == 415


def _result(probabilities: list[float], threshold: float) -> ScanResult:
    windows = [{"start": 3.75 * i, "end": 3.75 * i + 5, "probability": p} for i, p in enumerate(probabilities)]
    return ScanResult.from_windows("r.wav", windows=windows, threshold=threshold, model={"name": "m", "version": "1"},
                                   duration_s=3.75 * len(windows) + 1.25, sample_rate=48000, channels=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=8), st.floats(0, 1), st.floats(0, 1))
def test_request_threshold_equals_deciding_at_it_from_the_start(probs: list[float], first: float, second: float) -> None:
    assert with_threshold(_result(probs, first), second) == _result(probs, second)
    failed = ScanResult.failure("x.txt", "x.txt: not audio", {"name": "m", "version": "1"}, first)
    assert with_threshold(failed, second).threshold == second


def test_config_validates_and_round_trips(tmp_path: Path) -> None:
    config = ServiceConfig(model_dir=str(tmp_path), threshold=0.3, max_upload_mb=0.5, temp_dir=str(tmp_path))
    assert config.max_upload_bytes == 512 * 1024
    assert ServiceConfig.from_json(config.to_json()) == config
    for bad in ({"backend": "gpu"}, {"threshold": 1.5}, {"max_upload_mb": 0}, {"max_upload_mb": float("nan")},
                {"max_batch_files": 0}, {"inference_threads": 0}, {"batch_size": 0}, {"backend_threads": 0}):
        with pytest.raises(ValueError):
            ServiceConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        ServiceConfig.from_json('{"model_dir": null, "port": 1}')


def test_security_settings_validate_and_the_token_stays_out_of_repr(tmp_path: Path) -> None:
    config = ServiceConfig(token="t" * 16, max_pending=2, read_timeout_s=0.5, results_path=str(tmp_path / "r.jsonl"))
    assert "tttt" not in repr(config) and config.pending_limit == 2
    assert ServiceConfig.from_json(config.to_json()) == config  # workers get the token too
    assert ServiceConfig(inference_threads=8).pending_limit == 64 and ServiceConfig().pending_limit == 32
    for bad in ({"token": "short"}, {"token": " " + "t" * 20}, {"max_pending": 0}, {"read_timeout_s": 0},
                {"read_timeout_s": float("inf")}):
        with pytest.raises(ValueError):
            ServiceConfig(**bad)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (b"Bearer " + b"k" * 20, True),
        (b"bearer " + b"k" * 20, True),  # the scheme is case-insensitive (RFC 7235)
        (b"Bearer " + b"k" * 19, False),
        (b"Bearer " + b"k" * 21, False),
        (b"Basic " + b"k" * 20, False),
        (b"k" * 20, False),
        (b"", False),
    ],
)
def test_bearer_token_check(header: bytes, accepted: bool) -> None:
    from audio_artifacts.service.guard import bearer_token_matches

    assert bearer_token_matches([(b"authorization", header)], b"k" * 20) is accepted
    assert bearer_token_matches([], b"k" * 20) is False


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "70000"],
        ["serve", "--workers", "0"],
        ["serve", "--max-upload-mb", "-1"],
        ["serve", "--threshold", "2"],
        ["serve", "--model", "/nonexistent/model/dir"],
        ["serve", "--ssl-keyfile", "key.pem"],
        ["serve", "--ssl-certfile", "/nonexistent/cert.pem", "--ssl-keyfile", "/nonexistent/key.pem"],
        ["serve", "--shutdown-grace", "-1"],
        ["serve", "--read-timeout", "0"],
        ["serve", "--max-pending", "0"],
        ["serve", "--results", "r.jsonl", "--workers", "2"],
        ["serve", "--token-file", "/nonexistent/token"],
        ["serve", "--host", "192.0.2.10"],  # a LAN address without a token
    ],
)
def test_serve_rejects_bad_options_before_starting(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "audio-artifacts serve: error:" in capsys.readouterr().err


def test_serve_names_a_missing_model_file_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from audio_artifacts.models.model_dir import ModelInfo
    from audio_artifacts.windows import WindowSpec

    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "model.json" in capsys.readouterr().err
    info = ModelInfo(name="m", version="1", architecture="fast", arguments={}, sample_rate=32000,
                     window=WindowSpec(), threshold=0.5, package_version="test")
    (tmp_path / "model.json").write_text(json.dumps(info.to_dict()))
    assert main(["serve", "--model", str(tmp_path), "--backend", "onnx"]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_dotnet_style_parts_from_windows_stations(tmp_path: Path) -> None:
    """.NET's MultipartFormDataContent (PowerShell -Form): unquoted names, filename*, quoted boundary."""
    body = (b'--dotnet-b\r\nContent-Type: application/octet-stream\r\n'
            b"Content-Disposition: form-data; name=file; filename=unit7.wav; filename*=utf-8''unit7.wav\r\n\r\n"
            b"RIFFdata\r\n--dotnet-b--\r\n")
    form = asyncio.run(receive_form('multipart/form-data; boundary="dotnet-b"', str(len(body)),
                                    _chunks(body, 5), tmp_path, ("file",), UploadLimits(1000, 1)))
    assert [(f.field, f.filename, f.path.read_bytes()) for f in form.files] == [("file", "unit7.wav", b"RIFFdata")]


def test_the_listening_socket_lets_asyncio_disable_nagle() -> None:
    """Accepted connections inherit the protocol; asyncio sets TCP_NODELAY only for IPPROTO_TCP.
    Without it every answer waited ~40 ms for a delayed ACK (the load benchmark: 15 instead of 48 req/s)."""
    import socket

    from audio_artifacts.cli.serve import bind_socket

    listener = bind_socket("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP
        with socket.create_connection(listener.getsockname(), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        listener.close()

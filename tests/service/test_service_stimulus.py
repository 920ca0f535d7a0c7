"""The single-file endpoint's optional ``stimulus`` upload, over real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import soxr

from audio_artifacts.audio import write_audio

FILE = "/api/v1/inference/file"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """A recording (filtered noise bursts + a little noise, 32 kHz) and its stimulus (44.1 kHz, 80 ms lead)."""
    folder = tmp_path_factory.mktemp("stimulus_pair")
    rng = np.random.default_rng(21)
    rate = 32000
    signal = rng.standard_normal(6 * rate) * np.repeat(rng.random(48) > 0.3, rate // 8)
    recording = np.convolve(signal, [0.5, 0.4, -0.1], mode="same") * 0.05 + rng.standard_normal(signal.size) * 1e-4
    write_audio(folder / "rec.wav", recording, rate, "PCM_16")
    played = soxr.resample(np.concatenate([np.zeros(int(0.08 * rate)), signal * 0.2]), rate, 44100)
    write_audio(folder / "played.flac", played, 44100, "PCM_24")
    return folder / "rec.wav", folder / "played.flac"


def test_stimulus_field_gives_the_stimulus_aware_result(client: httpx.Client, served_model, pair) -> None:
    from audio_artifacts.inference.detector import Detector

    recording, stimulus = pair
    with open(recording, "rb") as rec, open(stimulus, "rb") as stim:
        response = client.post(FILE, files={"file": ("rec.wav", rec, "audio/wav"),
                                            "stimulus": ("played.flac", stim, "audio/flac")})
    assert response.status_code == 200, response.text
    row = response.json()
    assert row["path"] == "rec.wav"
    ref = row["stimulus"]
    assert ref["file"] == "played.flac" and ref["warning"] is None
    assert abs(ref["offset_s"] - 0.08) < 1e-3 and ref["explained"] > 0.9
    expected = Detector(served_model.directory, backend="torch", threshold=served_model.threshold).scan_file(
        recording, stimulus=stimulus)
    assert row["probability"] == pytest.approx(expected.probability, abs=1e-5)
    assert [w["start"] for w in row["windows"]] == [w.start for w in expected.windows]
    # Without the field: the same recording judged alone, no stimulus object.
    with open(recording, "rb") as rec:
        alone = client.post(FILE, files={"file": ("rec.wav", rec, "audio/wav")}).json()
    assert alone["stimulus"] is None


def test_unreadable_stimulus_is_415_naming_it(client: httpx.Client, pair) -> None:
    recording, _ = pair
    with open(recording, "rb") as rec:
        response = client.post(FILE, files={"file": ("rec.wav", rec, "audio/wav"),
                                            "stimulus": ("played.wav", b"RIFF....WAVE garbage", "audio/wav")})
    assert response.status_code == 415, response.text
    assert "stimulus 'played.wav'" in response.text


def test_openapi_shows_the_stimulus_field(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"][FILE]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["stimulus"]["format"] == "binary" and body["required"] == ["file"]

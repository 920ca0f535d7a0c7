"""How well ``scan --isolate`` recovers a known artifact from a mixture: correlation with the truth.

Mixtures: a synthetic stimulus (speech_like, music_like, pink noise) at RMS
0.05 plus one artifact of known waveform during 3-10 s of a 12 s, 48 kHz
recording, at three levels relative to the stimulus RMS:

* tonal: a 1 kHz line with a 3.1 kHz partial; reported frequencies 1 % off
  (as a measurement may be), and once with no frequencies (the fallback
  measures the lines itself);
* ticks: a damped 4 kHz ring every 0.25 s (reported period 0.2 % off);
* clicks: three irregular 1 ms square bursts.

Each mixture is written as a real WAV and isolated with
``isolation.isolate_recording``; printed is the correlation of the isolated
artifact with the true one during the event, per artifact x stimulus x level.

Run: ``python bench/isolation.py``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from audio_artifacts.audio import AudioConfig, load_audio, write_audio
from audio_artifacts.isolation import isolate_recording
from audio_artifacts.results.schema import Event, ScanResult
from audio_artifacts.simulate.stimuli import make_stimulus

RATE, SECONDS, EVENT = 48000, 12.0, (3.0, 10.0)
LEVELS_DB = (-10.0, -20.0, -30.0)  # artifact RMS during the event re the stimulus RMS
STIMULI = ("speech_like", "music_like", "pink")


def artifact(kind: str, t: np.ndarray) -> np.ndarray:
    inside = (t >= EVENT[0]) & (t < EVENT[1])
    out = np.zeros(t.size)
    if kind.startswith("tonal"):
        out[inside] = np.sin(2 * np.pi * 1000 * t[inside] + 0.3) + 0.5 * np.sin(2 * np.pi * 3100 * t[inside])
    elif kind == "ticks":
        n = int(0.004 * RATE)
        ring = np.exp(-np.arange(n) / (0.0008 * RATE)) * np.sin(2 * np.pi * 4000 * np.arange(n) / RATE)
        for start in np.arange(EVENT[0] + 0.01, EVENT[1] - 0.01, 0.25):
            out[int(start * RATE):int(start * RATE) + n] += ring
    else:
        for at in (4.1, 6.37, 8.9):
            out[int(at * RATE):int(at * RATE) + 48] = np.sign(np.sin(np.arange(48)))
    return out


def event(kind: str) -> Event:
    return {"tonal": Event(*EVENT, 0.9, type="tonal", frequencies_hz=(1010.0, 3069.0)),
            "tonal (no lines)": Event(*EVENT, 0.9),
            "ticks": Event(*EVENT, 0.9, type="periodic_ticks", period_s=0.2505),
            "clicks": Event(*EVENT, 0.9, type="clicks")}[kind]


def main() -> None:
    t = np.arange(int(SECONDS * RATE)) / RATE
    inside = (t >= EVENT[0]) & (t < EVENT[1])
    windows = [{"start": s, "end": s + 5, "probability": 0.9} for s in (0.0, 3.75, 7.0)]
    print(f"correlation of the isolated artifact with the true one during the event ({RATE} Hz, "
          f"{EVENT[1] - EVENT[0]:.0f} s event); artifact level re stimulus RMS")
    print(f"{'artifact':18s} {'stimulus':12s} " + " ".join(f"{level:>+7.0f} dB" for level in LEVELS_DB))
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("tonal", "tonal (no lines)", "ticks", "clicks"):
            for n, stimulus in enumerate(STIMULI):
                x = make_stimulus(np.random.default_rng(n), stimulus, t.size, RATE, 65.0)
                x *= 0.05 / np.sqrt(np.mean(x ** 2))
                figures = []
                for level in LEVELS_DB:
                    truth = artifact(kind, t)
                    truth *= 0.05 * 10 ** (level / 20) / np.sqrt(np.mean(truth[inside] ** 2))
                    path = write_audio(Path(folder) / "mix.wav", x + truth, RATE, subtype="FLOAT")
                    result = dataclasses.replace(
                        ScanResult.from_windows(path, windows=windows, threshold=0.5, model={"name": "b", "version": "0"},
                                                duration_s=SECONDS, sample_rate=RATE, channels=1),
                        events=(event(kind),))
                    isolated = isolate_recording(path, result, Path(folder) / "a.wav", Path(folder) / "r.wav")
                    estimate = load_audio(isolated.artifact, AudioConfig(sample_rate=RATE))[inside]
                    a, b = estimate.astype(np.float64), truth[inside]
                    figures.append(float(a @ b / np.sqrt((a @ a) * (b @ b) + 1e-30)))
                print(f"{kind:18s} {stimulus:12s} " + " ".join(f"{c:10.3f}" for c in figures))


if __name__ == "__main__":
    main()

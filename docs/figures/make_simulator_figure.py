"""Example spectrograms (0-8 kHz) of simulated recordings: one clean, several artifact types.

Run: ``python docs/figures/make_simulator_figure.py [OUT.png] [--level-offset DB]``.
Every panel is the same simulated device with a quiet input (internal-noise
measurement), with one artifact added at the level named in its title (its
parameters redrawn until they suit a 0-8 kHz view, e.g. lines above 1.5 kHz).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from audio_artifacts.simulate.artifacts import sample_artifact  # noqa: E402
from audio_artifacts.simulate.device import P_REF, draw_device, render_device  # noqa: E402
from audio_artifacts.simulate.levels import estimate_floor  # noqa: E402

SAMPLE_RATE = 32000
DURATION_S = 5.0
# (type, level re floor in dB, intermittent, which draws to show)
PANELS: list[tuple[str | None, float, bool, Callable[[dict], bool]]] = [
    (None, 0.0, False, lambda p: True),
    ("tonal", 12.0, False, lambda p: p["mode"] == "spurs" and min(p["frequencies_hz"]) > 1500),
    ("tdma_buzz", 18.0, True, lambda p: True),
    ("packet_buzz", 18.0, False, lambda p: p["interval_s"] <= 0.01),
    ("periodic_ticks", 26.0, False, lambda p: p["corner_hz"] > 2000),
    ("thumps", 26.0, False, lambda p: p["rate_hz"] < 6),
    ("noise_am", 6.0, False, lambda p: True),
    ("clicks", 28.0, False, lambda p: p["kind"] == "click"),
]


def spectrogram_db(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram in dB: 1024-sample Hann frames, hop 256 -> (freqs, times, (freqs, frames))."""
    n, hop = 1024, 256
    count = 1 + (signal.size - n) // hop
    index = np.arange(n)[None, :] + hop * np.arange(count)[:, None]
    spectra = np.abs(np.fft.rfft(signal[index] * np.hanning(n), axis=1)) ** 2
    return np.fft.rfftfreq(n, 1 / sample_rate), (index[:, 0] + n / 2) / sample_rate, 10 * np.log10(spectra.T + 1e-20)


def make_figure(out: Path, seed: int, level_offset_db: float) -> Path:
    """Draw the panels into ``out`` (PNG)."""
    rng = np.random.default_rng(seed)
    device = draw_device(rng, "figure-device")
    n = int(DURATION_S * SAMPLE_RATE)
    clean = render_device(device, None, n, SAMPLE_RATE, rng) / (P_REF * 10 ** (120 / 20))
    clean += rng.standard_normal(n) * 10 ** (-105 / 20)
    floor = estimate_floor(clean, SAMPLE_RATE)
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.5), sharey=True, constrained_layout=True)
    _, _, reference = spectrogram_db(clean, SAMPLE_RATE)
    vmax = np.percentile(reference, 99.5) + 6
    for ax, (kind, level, intermittent, wanted) in zip(axes.flat, PANELS):
        signal = clean.copy()
        title = "no artifact (quiet input)"
        if kind is not None:
            # Parameters are drawn; redraw until the example shows its mechanism in this view.
            for attempt in range(200):
                artifact, events = sample_artifact(np.random.default_rng([seed, attempt]), n, SAMPLE_RATE, floor,
                                                   artifact_type=kind, level_db=level + level_offset_db,
                                                   intermittent=intermittent)
                if wanted(events[0].params):
                    break
            signal += artifact
            title = f"{kind}, {level + level_offset_db:+.0f} dB re floor"
        freqs, times, db = spectrogram_db(signal, SAMPLE_RATE)
        keep = freqs <= 8000
        ax.pcolormesh(times, freqs[keep], db[keep], vmin=vmax - 45, vmax=vmax, cmap="viridis", shading="auto")
        if kind is not None:
            for event in events:
                ax.axvspan(event.start_s, max(event.end_s, event.start_s + 0.03), ymin=0.97, ymax=1.0, color="red")
        ax.set_title(title, fontsize=10)
    for ax in axes[1]:
        ax.set_xlabel("Time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("Frequency (Hz)")
    fig.suptitle(f"Simulated hearing aid, quiet input, {SAMPLE_RATE // 1000} kHz (red bars: labelled events)")
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    # A 64-colour palette keeps the noisy spectrograms' PNG small (docs stay light).
    Image.open(buffer).convert("RGB").quantize(colors=64).save(out, optimize=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default=str(Path(__file__).with_name("simulator_examples.png")))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--level-offset", type=float, default=0.0, help="dB added to every panel's level")
    args = parser.parse_args()
    print(make_figure(Path(args.out), args.seed, args.level_offset))


if __name__ == "__main__":
    main()

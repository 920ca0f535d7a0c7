"""The stimulus bank on the committed fixture bank (real clips from the built bank)."""

from __future__ import annotations

import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.errors import AudioArtifactsError, BankError
from audio_artifacts.simulate.bank import BANK_KINDS, INDEX_COLUMNS, StimulusBank
from audio_artifacts.simulate.device import P_REF
from audio_artifacts.simulate.stimuli import active_rms

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


@pytest.fixture(scope="module")
def bank() -> StimulusBank:
    return StimulusBank.open(FIXTURE)


def _index_rows() -> list[dict[str, str]]:
    with open(FIXTURE / "index.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _write_index(directory: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = INDEX_COLUMNS) -> None:
    with open(directory / "index.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter=";", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _level_db(signal: np.ndarray, sample_rate: int) -> float:
    return 20.0 * np.log10(active_rms(signal, sample_rate) / P_REF)


def test_fixture_bank_opens_with_every_kind(bank):
    assert bank.kinds == BANK_KINDS  # "ists" is interleaved from the speech clips
    assert len(bank) == len(_index_rows())
    for kind in ("speech", "speech_synth", "music", "everyday"):
        assert bank.clips(kind, "train"), kind
    assert bank.clips("speech", "foreign") and bank.clips("music", "foreign")
    assert bank.clips("speech", "test") == bank.clips("speech", "train")
    assert len(bank.clips("music", "all")) == sum(r["kind"] == "music" for r in _index_rows())
    for clip in bank.clips("speech", "all"):
        assert clip.path.is_file() and clip.duration_s > 0 and clip.sample_rate == 16000


def test_missing_folder_and_index_are_bank_errors(tmp_path):
    with pytest.raises(BankError, match="does not exist"):
        StimulusBank.open(tmp_path / "nowhere")
    with pytest.raises(BankError, match="no index.csv"):
        StimulusBank.open(tmp_path)
    assert issubclass(BankError, AudioArtifactsError)


def test_missing_column_is_named(tmp_path):
    _write_index(tmp_path, _index_rows(), tuple(c for c in INDEX_COLUMNS if c != "split_group"))
    with pytest.raises(BankError, match="split_group"):
        StimulusBank.open(tmp_path)


def test_bad_rows_are_all_listed(tmp_path):
    for clip in FIXTURE.rglob("*.flac"):
        target = tmp_path / clip.relative_to(FIXTURE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)
    rows = _index_rows()
    rows[0] = {**rows[0], "kind": "podcast"}
    rows[1] = {**rows[1], "path": "speech/gone.flac"}
    rows[2] = {**rows[2], "duration_s": "-3"}
    rows[3] = {**rows[3], "split_group": "holdout"}
    _write_index(tmp_path, rows)
    with pytest.raises(BankError) as caught:
        StimulusBank.open(tmp_path)
    problems = caught.value.problems
    assert len(problems) == 4, problems
    assert "line 2" in problems[0] and "podcast" in problems[0]
    assert "line 3" in problems[1] and "gone.flac" in problems[1] and "does not exist" in problems[1]
    assert "line 4" in problems[2] and "duration_s" in problems[2]
    assert "line 5" in problems[3] and "holdout" in problems[3]
    assert str(tmp_path / "index.csv") in str(caught.value)


def test_a_group_in_two_split_groups_is_refused(tmp_path):
    rows = _index_rows()
    shutil.copytree(FIXTURE, tmp_path / "bank")
    leak = next(r for r in rows if r["split_group"] == "foreign")
    rows.append({**leak, "split_group": "train"})
    _write_index(tmp_path / "bank", rows)
    with pytest.raises(BankError, match="several split groups"):
        StimulusBank.open(tmp_path / "bank")


@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000, 96000])
@pytest.mark.parametrize("kind", BANK_KINDS)
def test_render_length_and_active_level(bank, kind, sample_rate):
    n = int(4.5 * sample_rate) + 7
    signal, meta = bank.render(np.random.default_rng(3), kind, n, sample_rate, 65.0, "train")
    assert signal.shape == (n,) and signal.dtype == np.float64
    assert abs(_level_db(signal, sample_rate) - 65.0) < 0.5
    assert meta["clips"] and isinstance(meta["stimulus_source"], str) and meta["stimulus_source"]


def test_render_is_deterministic_per_seed(bank):
    first, meta_first = bank.render(np.random.default_rng(11), "music", 48000, 16000, 70.0, "train")
    again, meta_again = bank.render(np.random.default_rng(11), "music", 48000, 16000, 70.0, "train")
    other, _ = bank.render(np.random.default_rng(12), "music", 48000, 16000, 70.0, "train")
    np.testing.assert_array_equal(first, again)
    assert meta_first == meta_again
    assert not np.array_equal(first, other)
    # A pickled bank (what worker processes get) renders the same.
    copy = pickle.loads(pickle.dumps(bank))
    np.testing.assert_array_equal(copy.render(np.random.default_rng(11), "music", 48000, 16000, 70.0, "train")[0],
                                  first)


# The split rule, written out here rather than read from bank.SPLITS.
ALLOWED = {"train": {"train"}, "test": {"train"}, "foreign": {"foreign"}}


@pytest.mark.parametrize("split", sorted(ALLOWED))
def test_render_never_leaves_its_split_groups(bank, split):
    home = {r["path"]: r["split_group"] for r in _index_rows()}
    seen = set()
    for seed in range(12):
        for kind in ("speech", "music", "ists"):
            _, meta = bank.render(np.random.default_rng(seed), kind, 3 * 16000, 16000, 60.0, split)
            for path in meta["clips"]:
                assert home[path] in ALLOWED[split], (kind, path)
                seen.add(path)
    assert seen


def test_empty_split_is_a_bank_error(bank):
    with pytest.raises(BankError, match="no 'everyday' clips for split 'val'"):
        bank.render(np.random.default_rng(0), "everyday", 16000, 16000, 60.0, "val")
    with pytest.raises(ValueError, match="unknown split"):
        bank.clips("speech", "dev")


def test_clips_shorter_than_the_request_are_joined(bank):
    longest = max(c.duration_s for c in bank.clips("speech", "train"))
    n = int((3 * longest + 2) * 16000)
    signal, meta = bank.render(np.random.default_rng(5), "speech", n, 16000, 65.0, "train")
    assert signal.shape == (n,)
    assert len(meta["clips"]) >= 3
    assert abs(_level_db(signal, 16000) - 65.0) < 0.5
    # Filled to the end (the last gap is at most 0.5 s).
    assert np.any(signal[-16000:] != 0)


def test_ists_interleaves_several_voices(bank):
    signal, meta = bank.render(np.random.default_rng(2), "ists", 6 * 16000, 16000, 65.0, "train")
    groups = {c.group for c in bank.clips("speech", "all") + bank.clips("speech_synth", "all")
              if c.path.relative_to(bank.directory).as_posix() in meta["clips"]}
    assert len(groups) >= 2
    assert meta["stimulus_source"].startswith("ists:") and "+" in meta["stimulus_source"]
    # Speech segments of 100-600 ms: the 50 ms envelope changes often, unlike one steady talker's clip.
    frames = signal[: signal.size // 800 * 800].reshape(-1, 800)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-30)
    assert np.mean(level > level.max() - 30) > 0.5


def test_cache_is_bounded():
    bank = StimulusBank.open(FIXTURE, cache_clips=2)
    for seed in range(10):
        bank.render(np.random.default_rng(seed), "music", 16000, 16000, 60.0, "all")
    assert len(bank._cache) <= 2
    tiny = StimulusBank.open(FIXTURE, cache_mb=0.1)  # below one clip: only the latest is kept
    for seed in range(4):
        tiny.render(np.random.default_rng(seed), "music", 16000, 16000, 60.0, "all")
    assert len(tiny._cache) == 1
    assert len(pickle.loads(pickle.dumps(bank))._cache) == 0


def test_ists_cuts_only_inside_continuous_speech():
    from audio_artifacts.simulate.bank import _speech_runs

    rate = 16000
    t = np.arange(rate) / rate
    burst = np.sin(2 * np.pi * 300 * t[: int(0.3 * rate)])
    closure = np.zeros(int(0.04 * rate))  # a stop closure inside a word: bridged
    pause = np.zeros(int(0.5 * rate))  # a pause between phrases: left out
    signal = np.concatenate([pause, burst, closure, burst, pause, burst, pause])
    runs = _speech_runs(signal, rate)
    assert len(runs) == 2
    (a, b), (c, d) = runs
    assert abs(a - 0.5 * rate) <= 0.02 * rate and abs(b - 1.14 * rate) <= 0.02 * rate
    assert abs(c - 1.64 * rate) <= 0.02 * rate and abs(d - 1.94 * rate) <= 0.02 * rate

"""Manifests: prototype CSV, simulator CSV, class folders, all problems at once, round trip."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.data.manifest import (
    EXTENDED_COLUMNS,
    ArtifactEvent,
    RecordingEntry,
    artifact_types_of,
    load_entries,
    parse_events,
    read_folder,
    read_manifest,
    write_manifest,
)
from audio_artifacts.errors import ManifestError


def touch_wav(path: Path) -> Path:
    return write_audio(path, np.zeros(160), 16000)


@pytest.fixture
def recordings(tmp_path) -> Path:
    root = tmp_path / "data"
    for name in ("rec/a.wav", "rec/b.wav", "rec/sub/c.flac"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_audio(root / name, np.zeros(160), 16000)
    return root


def test_prototype_csv_relative_to_its_folder(recordings):
    csv = recordings / "test.csv"
    csv.write_text("path;class\nrec/a.wav;artifact\nrec/b.wav;no_artifact\n")
    entries = read_manifest(csv)
    assert [(e.path, e.label, e.events, e.columns) for e in entries] == [
        (recordings / "rec/a.wav", 1, None, {}),
        (recordings / "rec/b.wav", 0, None, {}),
    ]
    assert all(e.path.is_absolute() for e in entries)
    assert entries[0].class_name == "artifact"


def test_prototype_csv_with_a_data_root_elsewhere(recordings, tmp_path):
    csv = tmp_path / "lists" / "train.csv"
    csv.parent.mkdir()
    csv.write_text("path;class\nrec/sub/c.flac;no_artifact\n")
    with pytest.raises(ManifestError, match="file not found"):
        read_manifest(csv)
    (entry,) = read_manifest(csv, data_root=recordings)
    assert entry.path == recordings / "rec/sub/c.flac"
    (unchecked,) = read_manifest(csv, check_files=False)
    assert unchecked.path == csv.parent / "rec/sub/c.flac"


def test_headerless_two_column_file_and_bom_and_blank_lines(recordings):
    csv = recordings / "h.csv"
    csv.write_bytes("\ufeffrec/a.wav;artifact\n\nrec/b.wav;no_artifact\n".encode("utf-8"))
    assert [e.label for e in read_manifest(csv)] == [1, 0]


def test_absolute_paths_are_kept(recordings, tmp_path):
    csv = tmp_path / "abs.csv"
    csv.write_text(f"path;class\n{recordings / 'rec/a.wav'};artifact\n")
    assert read_manifest(csv)[0].path == recordings / "rec/a.wav"


def test_every_problem_is_listed_at_once_with_row_numbers(recordings):
    csv = recordings / "bad.csv"
    csv.write_text(
        "path;class\n"
        "rec/a.wav;artefact\n"  # 2: unknown class
        "rec/missing.wav;no_artifact\n"  # 3: missing file
        "rec/b.wav\n"  # 4: too few fields
        ";artifact\n"  # 5: empty path
        "rec;no_artifact\n"  # 6: a folder
        "rec/b.wav;no_artifact\n"  # 7: fine
        "rec/gone.wav;ARTIFACT\n"  # 8: unknown class AND missing file
    )
    with pytest.raises(ManifestError) as caught:
        read_manifest(csv)
    problems = caught.value.problems
    assert problems == [
        "row 2: unknown class 'artefact' (expected 'artifact' or 'no_artifact')",
        f"row 3: file not found: {recordings / 'rec/missing.wav'}",
        "row 4: expected 2 fields (';'-separated), found 1",
        "row 5: empty path",
        f"row 6: not a file: {recordings / 'rec'}",
        "row 8: unknown class 'ARTIFACT' (expected 'artifact' or 'no_artifact')",
        f"row 8: file not found: {recordings / 'rec/gone.wav'}",
    ]
    assert str(caught.value).startswith(f"{csv}: 7 problem(s)")


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "empty manifest"),
        ("path;class\n", "no recordings listed"),
        ("path,class\nrec/a.wav,artifact\n", "is it ';'-separated"),
        ("file;label\nrec/a.wav;artifact\n", "header must contain 'path' and 'class'"),
        ("path;class;class\nrec/a.wav;artifact;artifact\n", "duplicate column"),
    ],
)
def test_malformed_files(recordings, content, message):
    csv = recordings / "m.csv"
    csv.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(csv)


def test_manifest_path_problems(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(ManifestError, match="is a folder"):
        read_manifest(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x82")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(binary)


def sim_row(path: str, cls: str, events, **extra) -> str:
    cells = {name: "" for name in EXTENDED_COLUMNS}
    cells.update(path=path, **{"class": cls}, **extra)
    cells["events"] = '"' + json.dumps(events).replace('"', '""') + '"' if events is not None else ""
    return ";".join(cells[name] for name in EXTENDED_COLUMNS)


def test_simulator_csv_events_and_columns(recordings):
    tick = {"type": "tick", "start_s": 2.0, "end_s": 9.0, "level_db": -6.5, "params": {"period_s": 1.0}}
    tone = {"type": "tonal", "start_s": 0.0, "end_s": 4.0, "level_db": 3.0, "params": {"freq_hz": 2500.0}}
    csv = recordings / "sim.csv"
    csv.write_text(
        ";".join(EXTENDED_COLUMNS)
        + "\n"
        + sim_row("rec/a.wav", "artifact", [tick, tone], split="test", device="dev7", stimulus="quiet")
        + "\n"
        + sim_row("rec/b.wav", "no_artifact", [], split="test", stimulus="speech")
        + "\n"
    )
    a, b = read_manifest(csv)
    # events sorted by start time, parsed into typed objects
    assert a.events == (
        ArtifactEvent("tonal", 0.0, 4.0, 3.0, {"freq_hz": 2500.0}),
        ArtifactEvent("tick", 2.0, 9.0, -6.5, {"period_s": 1.0}),
    )
    assert b.events == ()
    assert a.columns["device"] == "dev7" and a.columns["stimulus"] == "quiet" and b.columns["stimulus"] == "speech"
    assert "events" not in a.columns and "path" not in a.columns and "class" not in a.columns


@pytest.mark.parametrize(
    "events_cell,message",
    [
        ("[{", "not valid JSON"),
        ('{"type": "tick"}', "must be a JSON list"),
        ('[{"type": "tick", "start_s": 1}]', r"events\[0\]: event is missing end_s, level_db"),
        ('[{"type": "tick", "start_s": 3, "end_s": 1, "level_db": 0}]', "0 <= start_s <= end_s"),
        ('[{"type": "tick", "start_s": -1, "end_s": 1, "level_db": 0}]', "0 <= start_s <= end_s"),
        ('[{"type": "", "start_s": 0, "end_s": 1, "level_db": 0}]', "non-empty string"),
        ('[{"type": "t", "start_s": "a", "end_s": 1, "level_db": 0}]', "start_s must be a finite number"),
        ('[{"type": "t", "start_s": 0, "end_s": 1, "level_db": NaN}]', "level_db must be a finite number"),
        ('[{"type": "t", "start_s": 0, "end_s": 1, "level_db": 0, "param": {}}]', "unknown key"),
        ('[{"type": "t", "start_s": 0, "end_s": 1, "level_db": 0, "params": []}]', "params must be a JSON object"),
        ('[{"type": "t", "start_s": 0, "end_s": 1, "level_db": 0, "params": {"period_s": 0}}]', "period_s"),
        ("[1]", "must be a JSON object"),
    ],
)
def test_bad_events_are_reported_with_their_row(recordings, events_cell, message):
    path = recordings / "e.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerows([["path", "class", "events"], ["rec/b.wav", "no_artifact", "[]"], ["rec/a.wav", "artifact", events_cell]])
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    (problem,) = caught.value.problems
    assert problem.startswith("row 3: ")
    assert re.search(message, problem), problem


def test_labels_contradicting_events_are_problems(recordings):
    csv = recordings / "c.csv"
    event = '[{"type": "click", "start_s": 1, "end_s": 1.01, "level_db": 0}]'
    csv.write_text(f"path;class;events\nrec/a.wav;artifact;[]\nrec/b.wav;no_artifact;{event}\nrec/a.wav;artifact;\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(csv)
    assert caught.value.problems == [
        "row 2: class 'artifact' but the events list is empty",
        "row 3: class 'no_artifact' but 1 artifact event(s) listed",
    ]


def test_empty_events_cell_means_no_interval_labels(recordings):
    csv = recordings / "n.csv"
    csv.write_text("path;class;events;device\nrec/a.wav;artifact;;d1\n")
    (entry,) = read_manifest(csv)
    assert entry.events is None and entry.columns == {"device": "d1"}


def test_write_then_read_round_trip(recordings, tmp_path):
    events = (
        ArtifactEvent("tonal", 0.25, 3.5, -4.0, {"freq_hz": [1000.0, 2000.0], "drift": 0.01}),
        ArtifactEvent("click", 4.0, 4.004, 12.0, {}),
    )
    entries = [
        RecordingEntry(recordings / "rec/a.wav", 1, events, {"split": "train", "device": "d1", "extra;col": "x;y"}),
        RecordingEntry(recordings / "rec/sub/c.flac", 0, (), {"split": "val", "stimulus": "pink \"noise\""}),
        RecordingEntry(recordings / "rec/b.wav", 0, None, {}),
    ]
    out = write_manifest(tmp_path / "out" / "m.csv", entries, recordings)
    text = out.read_text()
    header = text.splitlines()[0].split(";")
    assert header[:2] == ["path", "class"] and header[-1] == "events"  # the prototype's columns first
    assert "rec/a.wav;artifact;" in text  # relative to the data root
    back = read_manifest(out, recordings)
    assert [e.path for e in back] == [e.path for e in entries]
    assert [e.label for e in back] == [1, 0, 0]
    assert [e.events for e in back] == [events, (), None]
    assert back[0].columns["artifact_types"] == "click+tonal"
    assert back[1].columns["artifact_types"] == "none"
    assert back[0].columns["extra;col"] == "x;y" and back[1].columns["stimulus"] == 'pink "noise"'
    assert not list(out.parent.glob("*.partial"))


def test_write_paths_outside_the_root_stay_readable(tmp_path):
    outside = touch_wav(tmp_path / "elsewhere" / "z.wav")
    out = write_manifest(tmp_path / "root" / "m.csv", [RecordingEntry(outside, 1, None, {})], tmp_path / "root")
    assert "../elsewhere/z.wav" in out.read_text()
    assert read_manifest(out)[0].path == outside


def test_artifact_types_cell():
    assert artifact_types_of(None) == "none" and artifact_types_of(()) == "none"
    e = [ArtifactEvent("tick", 0, 1, 0), ArtifactEvent("buzz", 0, 1, 0), ArtifactEvent("tick", 2, 3, 0)]
    assert artifact_types_of(e) == "buzz+tick"


def test_parse_events_empty_and_null():
    assert parse_events("") is None and parse_events("  ") is None and parse_events("null") is None
    assert parse_events("[]") == ()


# ---------------------------------------------------------------- folders


def test_folder_layout(tmp_path):
    root = tmp_path / "set"
    touch_wav(root / "artifact" / "x.wav")
    touch_wav(root / "artifact" / "deep" / "er" / "y.flac")
    touch_wav(root / "no_artifact" / "z.WAV")
    (root / "no_artifact" / "notes.txt").write_text("not audio")
    (root / "README.md").write_text("top-level files are ignored")
    entries = read_folder(root)
    assert [(e.path.relative_to(root).as_posix(), e.label, e.events) for e in entries] == [
        ("artifact/deep/er/y.flac", 1, None),
        ("artifact/x.wav", 1, None),
        ("no_artifact/z.WAV", 0, None),
    ]
    assert entries[0].columns == {"folder": "deep/er"} and entries[1].columns == {"folder": ""}
    assert load_entries(root) == entries


def test_folder_problems_listed_together(tmp_path):
    root = tmp_path / "set"
    (root / "artefact").mkdir(parents=True)
    (root / "clean").mkdir()
    with pytest.raises(ManifestError) as caught:
        read_folder(root)
    assert caught.value.problems == [
        "needs a sub-folder 'artifact' and/or 'no_artifact' holding the recordings",
        "unknown class folder 'artefact' (expected 'artifact' or 'no_artifact')",
        "unknown class folder 'clean' (expected 'artifact' or 'no_artifact')",
    ]
    (root / "artifact").mkdir()
    (root / "artifact" / "a.txt").write_text("x")
    with pytest.raises(ManifestError, match="no audio files"):
        read_folder(root)
    with pytest.raises(ManifestError, match="does not exist"):
        read_folder(tmp_path / "nothing")


def test_load_entries_dispatches_on_the_source(recordings):
    csv = recordings / "p.csv"
    csv.write_text("path;class\nrec/a.wav;artifact\n")
    assert load_entries(csv)[0].path == recordings / "rec/a.wav"
    assert load_entries(csv, data_root=recordings)[0].path == recordings / "rec/a.wav"
    with pytest.raises(ValueError, match="data_root"):
        load_entries(recordings / "rec", data_root=recordings)

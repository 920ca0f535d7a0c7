"""The Ray engine's own bookkeeping, without Ray: chunking and the retry policy after a worker died.

(The engine itself runs against real Ray in tests/cli/test_scan_ray.py.)"""

from __future__ import annotations

import sys

from audio_artifacts.inference.ray_engine import Chunk, RetryBook, make_chunks


def test_chunks_close_at_a_file_count_or_a_byte_budget_and_keep_input_order(tmp_path) -> None:
    paths = []
    for i, size in enumerate([10, 10, 500, 10, 10, 10, 10, 10]):
        path = tmp_path / f"{i}.wav"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    paths.append(str(tmp_path / "missing.wav"))  # scanned as an error row: still chunked
    chunks = make_chunks(paths, files=4, max_bytes=400)
    assert [[i for i, _ in c.items] for c in chunks] == [[0, 1, 2], [3, 4, 5, 6], [7, 8]]
    assert [p for c in chunks for _, p in c.items] == paths


def test_a_dead_workers_chunk_is_split_without_blaming_anyone() -> None:
    book = RetryBook()
    retry, given_up = book.after_death(Chunk([(0, "a"), (1, "b"), (2, "c")]))
    assert [c.items for c in retry] == [[(0, "a")], [(1, "b")], [(2, "c")]]
    assert given_up == [] and book.kills == {}


def test_a_file_alone_on_a_worker_that_died_twice_is_given_up() -> None:
    book = RetryBook()
    assert book.after_death(Chunk([(5, "x")])) == ([Chunk([(5, "x")])], [])
    assert book.after_death(Chunk([(6, "y")])) == ([Chunk([(6, "y")])], [])  # another file: its own count
    assert book.after_death(Chunk([(5, "x")])) == ([], [5])
    assert book.kills == {5: 2, 6: 1}


def test_scan_start_up_and_the_engine_module_do_not_import_ray() -> None:
    import subprocess

    code = ("import sys; from audio_artifacts.cli import build_parser; build_parser(); "
            "import audio_artifacts.inference.ray_engine; print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

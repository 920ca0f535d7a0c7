"""`scan --engine ray` against real Ray: a local instance started by the driver, and a
`ray start --head` on loopback (started here, free ports, token auth) joined by
`--ray-address`. Rows equal to the local engine's; a driver killed mid-run and
resumed; a worker actor killed by its pid mid-run. Real processes, real files."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import audio_artifacts
from audio_artifacts.audio import write_audio
from audio_artifacts.cli import main

pytest.importorskip("ray")  # the `test` extra installs it; a plain `pip install -e .` does not

CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]
HANG_GUARD_S = 240  # not a timing check: a loaded machine is slow
#: this source tree first, absolute: Ray workers do not start in the test's working directory
SRC = str(Path(audio_artifacts.__file__).resolve().parents[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, *filter(None, [env.get("PYTHONPATH")])])
    env.pop("RAY_ADDRESS", None)
    env.update(extra or {})
    return env


def noise(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (0.01 + 0.02 * (seed % 5)) * rng.standard_normal(int(seconds * rate))
    if seed % 3 == 0:
        x += 0.3 * np.sin(2 * np.pi * (500 + 100 * seed) * np.arange(x.size) / rate)
    return x.astype(np.float32)


def rows_by_path(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows), "a recording was reported twice"
    return by_path


def assert_same_rows(got: dict[str, dict], want: dict[str, dict], same) -> None:
    """Same recordings, equal verdicts and fields (``same``: the ``same_rows`` fixture)."""
    assert got.keys() == want.keys()
    for path in want:
        assert got[path]["verdict"] == want[path]["verdict"], path
        assert same(got[path], want[path]), path


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> Path:
    """A test line's folder: 32 recordings of 3-30 s and one broken file (an error row)."""
    folder = tmp_path_factory.mktemp("line")
    for i in range(32):
        write_audio(folder / f"unit{i:02d}.wav", noise(3.0 + (i * 7) % 28, seed=i), 16000)
    (folder / "unit_broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    return folder


@pytest.fixture(scope="module")
def local_rows(line, tiny_model_dir, tmp_path_factory) -> tuple[int, dict[str, dict]]:
    """Exit code and rows of the local engine on `line` (batch size 1, as the Ray runs below)."""
    out = tmp_path_factory.mktemp("local") / "rows.jsonl"
    code = main(["scan", str(line), "--model", str(tiny_model_dir), "--batch-size", "1", "--out", str(out)])
    return code, rows_by_path(out)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real Ray head node on this machine (`ray start --head --block`): (address, env, process group)."""
    work = tmp_path_factory.mktemp("rayhead")
    token = work / "token"
    token.write_text(secrets.token_hex(32))
    env = _env({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)})
    port = _free_port()
    ports = {name: _free_port() for name in (
        "node-manager-port", "object-manager-port", "ray-client-server-port", "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")}
    # `ray start` of the Ray this interpreter imports, whether or not its bin folder is on PATH
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false", "--disable-usage-stats",
               "--min-worker-port", "0", "--max-worker-port", "0", "--temp-dir", str(work / "t"),
               *(arg for name, value in ports.items() for arg in (f"--{name}", str(value)))]
    log = work / "head.log"
    with open(log, "w") as handle:
        head = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", env, head.pid
    finally:
        workers = _head_workers(head.pid)
        os.killpg(head.pid, signal.SIGKILL)  # the head and its services: their own process group
        for pid in workers:  # the workers it started (each in a session of its own)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait()


def _rows_so_far(out: Path) -> int:
    return out.read_text().count("\n") if out.exists() else 0


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, title) of every process we can see."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(entry.name)] = (int(fields[1]), int(fields[2]), title)
        except (OSError, ValueError, IndexError):
            continue
    return found


def _head_workers(pgid: int, title: str = "") -> list[int]:
    """Pids of the worker processes of our head's raylet whose title starts with ``title``.

    Ray starts workers in sessions of their own; they are children of a
    process of the head's group (its raylet).
    """
    processes = _processes()
    head = {pid for pid, (_, group, _) in processes.items() if group == pgid}
    return [pid for pid, (parent, group, name) in processes.items()
            if parent in head and group != pgid and name.startswith(title)]


def _wait_for_rows(process: subprocess.Popen, out: Path, n: int = 1) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while _rows_so_far(out) < n:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the scan ended or hung before {n} row(s): {process.communicate()}")
        time.sleep(0.002)


# ----------------------------------------------------------------------------- same rows


def test_local_ray_instance_gives_the_local_engines_rows_and_exit_code(tmp_path, line, tiny_model_dir,
                                                                        local_rows, same_rows) -> None:
    out = tmp_path / "ray.jsonl"
    done = subprocess.run([*CLI, "scan", str(line), "--model", str(tiny_model_dir), "--batch-size", "1",
                           "--engine", "ray", "--out", str(out)],
                          env=_env(), capture_output=True, text=True,
                          timeout=HANG_GUARD_S)
    code, want = local_rows
    assert done.returncode == code == 1, done.stderr  # the broken file's error row, in both engines
    assert_same_rows(rows_by_path(out), want, same_rows)
    assert "33 file(s)" in done.stderr


def test_cluster_joined_by_address_gives_the_local_engines_rows(tmp_path, line, tiny_model_dir, local_rows,
                                                                  ray_head, same_rows) -> None:
    address, env, _ = ray_head
    out = tmp_path / "ray.jsonl"
    done = subprocess.run([*CLI, "scan", str(line), "--model", str(tiny_model_dir), "--batch-size", "1",
                           "--engine", "ray", "--ray-address", address, "--ray-workers", "2", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    code, want = local_rows
    assert done.returncode == code == 1, done.stderr
    assert_same_rows(rows_by_path(out), want, same_rows)


# ----------------------------------------------------------------------------- faults


def test_driver_killed_mid_run_then_resume_gives_every_file_exactly_one_row(
        tmp_path, line, tiny_model_dir, local_rows, ray_head, same_rows) -> None:
    address, env, _ = ray_head
    out = tmp_path / "killed.jsonl"
    command = [*CLI, "scan", str(line), "--model", str(tiny_model_dir), "--batch-size", "1", "--engine", "ray",
               "--ray-address", address, "--ray-workers", "1", "--out", str(out), "--resume"]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_rows(driver, out)
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    text = out.read_text()
    written = [json.loads(row) for row in text[: text.rfind("\n") + 1].splitlines()]
    assert 1 <= len(written) < 33, "the driver was not killed mid-run"
    assert len({r["path"] for r in written}) == len(written)

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    code, want = local_rows
    assert done.returncode == code, done.stderr
    assert f"resuming: {len(written)} of 33" in done.stderr
    assert_same_rows(rows_by_path(out), want, same_rows)  # rows_by_path: every file exactly once


def test_worker_killed_by_pid_mid_run_is_replaced_csv_pictures_and_exit_code_as_local(
        tmp_path, line, tiny_model_dir, local_rows, ray_head, same_rows) -> None:
    import csv

    address, env, pgid = ray_head
    _, want = local_rows
    # a threshold that flags exactly three recordings: CSV verdicts, pictures, exit code 3
    threshold = sorted(r["probability"] for r in want.values() if r["status"] == "ok")[-3]
    out = tmp_path / "rows.csv"
    driver = subprocess.Popen([*CLI, "scan", str(line), "--model", str(tiny_model_dir), "--batch-size", "1",
                               "--engine", "ray", "--ray-address", address, "--ray-workers", "2",
                               "--out", str(out), "--threshold", repr(threshold), "--fail-on-artifact",
                               "--plots", str(tmp_path / "png")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(driver, out, 2)  # the header and one row
    busy: list[int] = []
    while not busy and driver.poll() is None:  # a worker of this run, in the middle of a chunk
        busy = _head_workers(pgid, "ray::ScanWorker.scan")
    assert busy, "the scan finished before a worker could be killed"
    os.kill(busy[0], signal.SIGKILL)
    rows_at_kill = _rows_so_far(out) - 1
    _, stderr = driver.communicate(timeout=HANG_GUARD_S)
    assert rows_at_kill < 33, "the worker was killed after the scan had finished"
    assert driver.returncode == 3, stderr
    assert "a Ray worker died" in stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    summary = {r["path"]: r for r in rows}
    assert len(rows) == len(summary) and summary.keys() == want.keys()  # every file exactly once
    for path, row in summary.items():
        if want[path]["status"] == "ok":
            assert float(row["probability"]) == pytest.approx(want[path]["probability"], rel=1e-6, abs=1e-9)
        assert row["status"] == want[path]["status"]
    flagged = {p for p, r in summary.items() if r["verdict"] == "artifact"}
    assert flagged == {p for p, r in want.items() if r["status"] == "ok" and r["probability"] >= threshold}
    assert len(flagged) == 3
    assert sorted(p.stem for p in (tmp_path / "png").glob("*.png")) == sorted(Path(p).stem for p in flagged)


# ----------------------------------------------------------------------------- usage


def test_ray_options_without_the_ray_engine_are_a_usage_error(capsys, line) -> None:
    assert main(["scan", str(line), "--ray-workers", "2"]) == 2
    assert "need --engine ray" in capsys.readouterr().err


def test_without_ray_installed_one_line_says_how_to_install_it(capsys, monkeypatch, line, tiny_model_dir) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when Ray is not installed
    assert main(["scan", str(line), "--model", str(tiny_model_dir), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [('audio-artifacts scan: error: --engine ray needs Ray; install it with: '
                    'pip install "audio-artifacts[ray]"')]


def test_an_address_where_nothing_listens_is_a_usage_error_at_once(capsys, line, tiny_model_dir) -> None:
    address = f"127.0.0.1:{_free_port()}"  # free: nothing listens there
    code = main(["scan", str(line), "--model", str(tiny_model_dir), "--engine", "ray", "--ray-address", address])
    assert code == 2
    assert f"cannot join the Ray cluster at {address}: nothing answers there" in capsys.readouterr().err

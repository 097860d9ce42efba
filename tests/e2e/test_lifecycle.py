"""Failure handling of `python -m localcluster`, as a user meets it (issue 2, item 2).

Each test uses its own run directory (HSDNS_RUN_DIR), so it never disturbs the cluster the rest
of the self-test runs against; the binaries come from the shared build cache.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.build import BuildError, Etcd, go_env
from localcluster.cluster import ClusterError, Launcher, pid_alive
from localcluster.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def cli(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ if env is None else env, HSDNS_RUN_DIR=str(run_dir))
    return subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300, check=False)


def recorded_pids(run_dir: Path) -> dict[str, int]:
    state = json.loads((run_dir / "state.json").read_text())
    return {k: int(v) for k, v in state["pids"].items()}


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "run"
    yield directory
    cli(directory, "down")  # never leave processes behind, whatever the test did


def test_down_without_up_is_safe(run_dir: Path) -> None:
    res = cli(run_dir, "down")
    assert res.returncode == 0, res.stderr
    assert "not running" in res.stdout


def test_status_without_up_says_how_to_start(run_dir: Path) -> None:
    res = cli(run_dir, "status")
    assert res.returncode == 1
    assert "python -m localcluster up" in res.stderr


def test_up_twice_then_down_stops_every_pid(run_dir: Path) -> None:
    first = cli(run_dir, "up", "--real-nodes", "0")
    assert first.returncode == 0, first.stderr + first.stdout
    pids = recorded_pids(run_dir)
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                         "coredns", "podsim"}
    second = cli(run_dir, "up", "--real-nodes", "0")
    assert second.returncode == 0 and "already up" in second.stdout
    assert recorded_pids(run_dir) == pids
    status = cli(run_dir, "status")
    assert status.returncode == 0 and status.stdout.count("healthy") == len(pids)
    down = cli(run_dir, "down")
    assert down.returncode == 0
    assert not run_dir.exists()
    assert [p for p in pids.values() if Path(f"/proc/{p}").exists() and pid_alive(p, "")] == []


def test_stale_run_is_cleaned_up(run_dir: Path) -> None:
    assert cli(run_dir, "up", "--real-nodes", "0").returncode == 0
    old = recorded_pids(run_dir)
    os.kill(old["etcd"], signal.SIGKILL)  # a crash: the rest of the old run is still alive
    res = cli(run_dir, "up", "--real-nodes", "0")
    assert res.returncode == 0, res.stderr
    assert "stale run" in res.stdout
    new = recorded_pids(run_dir)
    assert not set(old.values()) & set(new.values())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p, "") for p in old.values()):
        time.sleep(0.1)
    assert not any(pid_alive(p, "") for p in old.values()), "processes of the stale run survived"


def test_dns_port_in_use_names_the_fix(run_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        res = cli(run_dir, "up", "--real-nodes", "0", "--dns-port", str(port))
    assert res.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in res.stderr and "--dns-port" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (run_dir / "state.json").exists() or not any(
        pid_alive(p, "") for p in recorded_pids(run_dir).values())


def test_go_missing_is_one_clear_message(tmp_path: Path, run_dir: Path) -> None:
    env = dict(os.environ, HSDNS_CACHE_DIR=str(tmp_path / "empty-cache"), PATH="/usr/bin:/bin")
    res = cli(run_dir, "up", "--real-nodes", "0", env=env)
    assert res.returncode == 1
    assert "Go is not installed" in res.stderr and "Traceback" not in res.stderr
    assert not run_dir.exists()


def test_failing_build_shows_command_and_output(tmp_path: Path) -> None:
    comp = Etcd("etcd", "0.0.0-does-not-exist", ("etcd",), tmp_path)
    with pytest.raises(BuildError) as err:
        comp.prepare(go_env(tmp_path))
    text = str(err.value)
    assert "go mod tidy" in text and "--- last lines ---" in text and "0.0.0-does-not-exist" in text


def test_unhealthy_component_is_named_with_its_log(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path, Settings(), print)
    launcher.start("kube-scheduler", ["/bin/sh", "-c", "echo listening nowhere; exec sleep 30"])
    try:
        with pytest.raises(ClusterError) as err:
            launcher.wait_healthy("kube-scheduler", lambda: False, timeout=1.5)
        assert "kube-scheduler did not become healthy" in str(err.value)
        assert "listening nowhere" in str(err.value)
    finally:
        os.kill(launcher.pids["kube-scheduler"], signal.SIGKILL)
    launcher.start("etcd", ["/bin/sh", "-c", "echo bad flag >&2; exit 3"])
    with pytest.raises(ClusterError) as err:
        launcher.wait_healthy("etcd", lambda: False, timeout=10)
    assert "etcd exited during start-up (exit 3)" in str(err.value) and "bad flag" in str(err.value)

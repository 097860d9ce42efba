"""``python -m localcluster restart <component>`` without a cluster: a stand-in process recorded in a run
directory's state.json is stopped by its PID and started again with its recorded argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.polling import poll_until
from localcluster import cluster
from localcluster.__main__ import main

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)", "kube-scheduler"]


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HSDNS_RUN_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    return tmp_path


def write_state(run_dir: Path, pid: int, launches: dict[str, dict[str, object]]) -> None:
    state = cluster.State(run_dir=str(run_dir), kubeconfig="", dns_server="127.0.0.1:1", ports={}, pids={
        "kube-scheduler": pid}, settings={}, started_at=time.time(), expects={"kube-scheduler": "kube-scheduler"},
        launches=launches)
    state.save()


def _wait_exec(pid: int) -> None:
    """Until the process has exec'd the stand-in's argv (its cmdline names kube-scheduler)."""
    poll_until(lambda: True if cluster.pid_alive(pid, "kube-scheduler") else None, timeout=10,
               what=f"pid {pid} to exec the stand-in's argv", interval=0.02)


def test_restart_stops_by_pid_and_starts_the_recorded_argv(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    old = subprocess.Popen(SLEEPER, start_new_session=True)
    new_pid = 0
    try:
        # until the stand-in has exec'd its argv: before that its cmdline is pytest's, and restart (rightly)
        # leaves a PID whose process is not the recorded one alone (failed once under load)
        _wait_exec(old.pid)
        write_state(run_dir, old.pid, {"kube-scheduler": {"argv": SLEEPER, "cwd": str(run_dir)}})
        monkeypatch.setattr(cluster, "health_checks", lambda state: {"kube-scheduler": lambda: True})
        assert main(["restart", "kube-scheduler"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"restarted kube-scheduler (pid {old.pid} -> ")
        assert old.wait(timeout=15) is not None  # SIGTERM by its PID
        state = json.loads((run_dir / "state.json").read_text())
        new_pid = state["pids"]["kube-scheduler"]
        assert new_pid != old.pid
        # the new process may not have exec'd its argv yet (its cmdline is still the forking Python's): poll
        _wait_exec(new_pid)
        assert cluster.pid_alive(new_pid, "kube-scheduler")
        assert (run_dir / "pids" / "kube-scheduler.pid").read_text().strip() == str(new_pid)
        assert "restarted by `python -m localcluster restart kube-scheduler`" in (
            run_dir / "logs" / "kube-scheduler.log").read_text()
    finally:
        old.kill()
        if new_pid:
            os.kill(new_pid, 9)


def test_restart_refuses_what_it_cannot_restart(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restart", "kube-scheduler"]) == 1  # no cluster
    assert "not running" in capsys.readouterr().err
    write_state(run_dir, 999_999, {})  # started by a localcluster that recorded no command lines
    assert main(["restart", "kube-scheduler"]) == 1
    assert "records no command line for kube-scheduler" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["restart", "kubelet-0"])  # only control-plane host processes
    with pytest.raises(cluster.ClusterError, match="not 'podsim'"):
        cluster.restart("podsim")


def test_launcher_records_the_argv_of_control_plane_processes_only(tmp_path: Path) -> None:
    launcher = cluster.Launcher.__new__(cluster.Launcher)
    launcher.dir, launcher.logs = tmp_path, tmp_path / "logs"
    launcher.pids, launcher.expects, launcher.procs, launcher.launches = {}, {}, {}, {}
    launcher.on_start = None
    try:
        launcher.start("kube-scheduler", SLEEPER)
        launcher.start("podsim", [sys.executable, "-c", "import time; time.sleep(120)", "localcluster.podsim"],
                       env=dict(os.environ))
        assert launcher.launches == {"kube-scheduler": {"argv": SLEEPER, "cwd": str(tmp_path)}}
    finally:
        for proc in launcher.procs.values():
            proc.kill()
            proc.wait()

"""Where the local cluster keeps things: a build cache outside the repo and a per-run dir."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Binaries and Go caches, keyed by pinned versions; survives across runs and clones."""
    env = os.environ.get("HSDNS_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "headless-dns-conformance"


def run_dir() -> Path:
    """State of the running cluster (PKI, etcd data, logs, PIDs); removed by `down`."""
    env = os.environ.get("HSDNS_RUN_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return cache_dir() / "run"

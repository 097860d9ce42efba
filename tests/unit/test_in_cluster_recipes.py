"""Cluster-free checks of the in-cluster pieces of issue 14: the suite image recipe, the Sonobuoy plugin manifest
and aggregator recipe, `sonobuoy results --mode detailed` parsing, and the entrypoint's `hsdns run` branch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from localcluster import sonobuoy, suite_image

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_suite_image_matches_the_containerfile_contract() -> None:
    r = suite_image.recipe("0.1.0")
    assert r.reference == "headless-dns-conformance:0.1.0" and r.user_spec == "65532:65532"
    assert r.entrypoint == ("/app/deploy/run-in-cluster.sh",) and {"bash", "tar"} <= set(r.packages)
    assert dict(r.env)["HOME"] == "/tmp" and r.trees[0].path == suite_image.SITE


def test_sonobuoy_plugin_manifest_and_aggregator_image() -> None:
    doc = sonobuoy.plugin_manifest("10.253.0.2:5000", "-k 'HS-DNS-001'")
    assert doc["spec"]["image"] == "10.253.0.2:5000/headless-dns-conformance:0.1.0"
    env = {e["name"]: e["value"] for e in doc["spec"]["env"]}
    assert env["HSDNS_PYTEST_ARGS"] == "-k 'HS-DNS-001'" and env["HSDNS_IMAGE_REGISTRY"] == "10.253.0.2:5000"
    assert sonobuoy.RECIPE.cmd[:2] == ("/sonobuoy", "aggregator") and sonobuoy.RECIPE.user == 65532
    text = 'noise\n{"name": "HS-DNS-001 A headless ...", "status": "passed"}\n{"name": "x", "status": "failed"}\n'
    assert [i["status"] for i in sonobuoy.detailed_items(text)] == ["passed", "failed"]


def test_entrypoint_runs_hsdns_when_installed(tmp_path: Path) -> None:
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "hsdns").write_text('#!/bin/sh\necho "$@" > "$HSDNS_REPORTS_DIR/args.txt"\nexit 0\n')
    (stub / "hsdns").chmod(0o755)
    env = {"PATH": f"{stub}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp_path),
           "HSDNS_RESULTS_DIR": str(tmp_path / "results"), "HSDNS_PYTEST_ARGS": "-k 'a or b'"}
    proc = subprocess.run(["bash", str(DEPLOY / "run-in-cluster.sh")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "results" / "args.txt").read_text().split()
    assert args[:3] == ["run", "-p", "no:cacheprovider"] and "-k" not in args  # hsdns reads HSDNS_PYTEST_ARGS

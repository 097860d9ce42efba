"""Outside check of the local cluster: the upstream ``[sig-network] DNS`` e2e tests (issue 8).

Runs ``e2e.test`` of the same k8s.io/kubernetes release as the control plane against a running
local cluster with a real node, and writes ``reports/upstream-dns-e2e/``:

* ``junit_01.xml`` (the e2e framework's own JUnit file), ``e2e.log`` (its full output);
* ``kube-test-repo-list.yaml`` (the ``KUBE_TEST_REPO_LIST`` used);
* ``summary.md`` / ``summary.json``: one line per selected test with pass/fail/skip, duration, and
  for failures and skips the first line of the reason, plus whether it is a known gap
  (:data:`KNOWN_GAPS`, explained in docs/local-cluster.md).

Everything the run needs is built on demand (``localcluster.build.build_e2e``, the images of
``localcluster.images.UPSTREAM_E2E_RECIPES``) and pushed to the cluster's registry from inside its
network namespace. ``e2e.test`` runs on the host and only talks to the API server on 127.0.0.1
(exec, logs and the pod proxy go through the API server and the gateway).

Exit status: 0 when every selected test passed, was skipped by the test itself, or failed as a
known gap; 1 when a test failed unexpectedly or a known gap passed (update :data:`KNOWN_GAPS`);
2 when the run could not be made (no cluster, build error, no JUnit file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import images
from . import netns as nn
from .build import BuildError, build_e2e, e2e_components, load_pins
from .cluster import State
from .paths import run_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT_DIR = REPO_ROOT / "reports" / "upstream-dns-e2e"
DEFAULT_FOCUS = r"\[sig-network\] DNS"
DEFAULT_SKIP = r"\[Serial\]|\[Disruptive\]|\[Flaky\]"
# The KWOK nodes carry kwok.x-k8s.io/node=fake:NoSchedule; without this the framework waits (30 min)
# for them to become schedulable before running anything. Tests still pick only untainted nodes.
NON_BLOCKING_TAINTS = "node-role.kubernetes.io/control-plane,kwok.x-k8s.io/node"

# Tests that fail on the local cluster for a documented reason (docs/local-cluster.md, "Outside
# check"): test name (as in the JUnit file, without "[It] ") -> the named gap.
KNOWN_GAPS: dict[str, str] = {
    "[sig-network] DNS should work with a service name that starts with a digit "
    "[FeatureGate:RelaxedServiceNameValidation] [Alpha] [Feature:OffByDefault]":
        "needs the alpha feature gate RelaxedServiceNameValidation, off by default in v1.34 (the local cluster "
        "runs default gates, so the API server rejects the Service name 1kubernetes); upstream jobs skip "
        "[Feature:OffByDefault] unless they enable the gate",
    # Not in the default selection ([Serial]); seen with --focus '\[sig-network\] DNS configMap' --skip ''.
    "[sig-network] DNS configMap nameserver Change stubDomain should be able to change stubDomain configuration "
    "[Slow] [Serial]":
        "the cluster's CoreDNS is built without the `forward` plugin; the test's Corefile uses it and CoreDNS "
        "crash-loops (\"no action found for directive 'forward'\")",
    "[sig-network] DNS configMap nameserver Forward external name lookup should forward externalname lookup to "
    "upstream nameserver [Slow] [Serial]":
        "the cluster's CoreDNS is built without the `forward` plugin (as above)",
    "[sig-network] DNS configMap nameserver Forward PTR lookup should forward PTR records lookup to upstream "
    "nameserver [Slow] [Serial]":
        "offline cluster: first resolves PTR 8.8.8.8 -> dns.google through the default upstream (no internet, no "
        "`forward`); fails there even with a CoreDNS that has `forward`",
}


@dataclass
class Result:
    name: str
    status: str  # passed | failed | skipped
    seconds: float
    reason: str = ""
    known_gap: str = ""

    @property
    def verdict(self) -> str:
        if self.status == "failed" and self.known_gap:
            return "FAIL (known gap)"
        if self.status == "passed" and self.known_gap:
            return "PASS (known gap now passes)"
        return {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}.get(self.status, self.status.upper())


def e2e_command(bins: dict[str, Path], kubeconfig: str, report_dir: Path, focus: str, skip: str,
                extra: Sequence[str] = ()) -> list[str]:
    return [
        str(bins["e2e.test"]), f"--kubeconfig={kubeconfig}", f"--kubectl-path={bins['kubectl']}",
        "--provider=local", f"--non-blocking-taints={NON_BLOCKING_TAINTS}",
        f"--ginkgo.focus={focus}", f"--ginkgo.skip={skip}", "--ginkgo.no-color", "--ginkgo.v",
        f"--report-dir={report_dir}", *extra,
    ]


def selected(name: str, focus: str, skip: str) -> bool:
    """Ginkgo's selection on the spec text (RE2; the default patterns mean the same in Python)."""
    return re.search(focus, name) is not None and (not skip or re.search(skip, name) is None)


def parse_junit(path: Path, focus: str, skip: str) -> list[Result]:
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "").removeprefix("[It] ")
        if not selected(name, focus, skip):
            continue
        status = case.get("status", "")
        reason = ""
        for child in case:
            if child.tag in ("failure", "error"):
                reason = (child.get("message") or child.text or "").strip()
            elif child.tag == "skipped":
                reason = (child.get("message") or "").strip()
        first = next((line.strip() for line in reason.splitlines() if line.strip()), "")
        results.append(Result(name, status, round(float(case.get("time") or 0), 1), first[:300],
                              KNOWN_GAPS.get(name, "")))
    return sorted(results, key=lambda r: r.name)


def verdict_ok(results: Sequence[Result]) -> bool:
    return all(r.status == "skipped" or (r.status == "passed") == (not r.known_gap) for r in results)


def write_summary(report_dir: Path, results: Sequence[Result], meta: dict[str, object]) -> Path:
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    lines = [
        "# Upstream `[sig-network] DNS` e2e against the local cluster", "",
        f"* e2e.test {meta['kubernetes']} (k8s.io/kubernetes, built locally), cluster {meta['kubernetes']}, "
        f"CoreDNS {meta['coredns']}",
        f"* focus `{meta['focus']}`, skip `{meta['skip']}`",
        f"* started {meta['started']}, e2e.test ran {meta['run_seconds']:.0f} s (exit {meta['exit_code']})",
        f"* {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
        f"of {len(results)} selected",
        "", "| result | test | s | reason |", "|---|---|---|---|",
    ]
    for r in results:
        why = r.known_gap or r.reason
        lines.append(f"| {r.verdict} | {r.name.replace('|', '/')} | {r.seconds:.0f} | {why.replace('|', '/')} |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    out = report_dir / "summary.md"
    out.write_text("\n".join(lines))
    (report_dir / "summary.json").write_text(json.dumps({**meta, "results": [asdict(r) for r in results]},
                                                        indent=2) + "\n")
    return out


def prepare(state: State, report_dir: Path, log: Callable[[str], None] = print) -> tuple[dict[str, Path], Path]:
    """Build the binaries and images (if missing), push the images, write the repo list."""
    if state.netns is None or not state.image_registry:
        raise BuildError("the running local cluster has no real node (started with --real-nodes 0): the "
                         "upstream tests need pods that really run; start it with a real node")
    bins = build_e2e(log=log)
    tars = images.build_upstream_e2e_images({"agnhost": bins["agnhost"], "coredns-e2e": bins["coredns"]}, log=log)
    images.push_all(tars, state.image_registry, nn.prefix(state.netns), log=log)
    repo_list = report_dir / "kube-test-repo-list.yaml"
    repo_list.write_text(yaml.safe_dump(images.upstream_repo_list(state.image_registry), sort_keys=True))
    return bins, repo_list


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.upstream_e2e", description=__doc__.split("\n\n")[0])
    ap.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    ap.add_argument("--focus", default=DEFAULT_FOCUS)
    ap.add_argument("--skip", default=DEFAULT_SKIP)
    ap.add_argument("--timeout", default="1h", help="ginkgo suite timeout (default 1h)")
    ap.add_argument("extra", nargs="*", help="more e2e.test flags (after --)")
    args = ap.parse_args(argv)

    state = State.load(run_dir())
    if state is None:
        print(f"no local cluster in {run_dir()}: start one (`python -m localcluster up`) or use "
              "scripts/with-local-cluster.sh", file=sys.stderr)
        return 2
    report_dir: Path = args.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    for old in ("junit_01.xml", "summary.md", "summary.json", "e2e.log"):
        (report_dir / old).unlink(missing_ok=True)
    try:
        bins, repo_list = prepare(state, report_dir)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = e2e_command(bins, state.kubeconfig, report_dir, args.focus, args.skip,
                      [f"--ginkgo.timeout={args.timeout}", *args.extra])
    env = dict(os.environ, KUBE_TEST_REPO_LIST=str(repo_list), KUBECONFIG=state.kubeconfig)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"running upstream e2e ({args.focus}); log: {report_dir / 'e2e.log'}", flush=True)
    t0 = time.monotonic()
    with (report_dir / "e2e.log").open("w") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=report_dir, check=False)
    run_s = time.monotonic() - t0
    junit = report_dir / "junit_01.xml"
    if not junit.is_file():
        print(f"error: e2e.test exited {proc.returncode} without a JUnit file; see {report_dir / 'e2e.log'}",
              file=sys.stderr)
        return 2
    results = parse_junit(junit, args.focus, args.skip)
    pins = load_pins()
    stamps = {c.name: json.loads(c.stamp.read_text()) for c in e2e_components() if c.stamp.is_file()}
    meta: dict[str, object] = {
        "kubernetes": f"v{pins['kubernetes']['version']}", "coredns": str(pins["coredns"]["version"]),
        "focus": args.focus, "skip": args.skip, "started": started, "run_seconds": round(run_s, 1),
        "exit_code": proc.returncode, "build": stamps,
        "command": " ".join(["KUBE_TEST_REPO_LIST=" + str(repo_list), *(shlex.quote(c) for c in cmd)]),
    }
    summary = write_summary(report_dir, results, meta)
    print(summary.read_text())
    return 0 if verdict_ok(results) else 1


if __name__ == "__main__":
    sys.exit(main())

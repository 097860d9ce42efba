"""Sonobuoy for real (issue 14, item 3): deploy/sonobuoy-plugin.yaml run by the real ``sonobuoy`` on the local cluster.

1. the ``sonobuoy`` CLI, built on demand from its Go module at the pin in pins.toml
   (``localcluster.build.build_sonobuoy``); the same static binary is the aggregator and the worker
   sidecar inside the cluster, so the aggregator image (:data:`RECIPE`) is that binary alone, with
   upstream's command (``/sonobuoy aggregator --no-exit -v 3 --logtostderr``) and a numeric non-root user
   (the plugin pod sets ``runAsNonRoot``, which the worker sidecar inherits);
2. both images (the aggregator and the suite's, ``localcluster.suite_image``) pushed to the local registry;
3. deploy/rbac.yaml and deploy/sonobuoy-rbac.yaml applied (the plugin pod runs as the least-privilege
   ``hsdns-conformance`` account, not Sonobuoy's cluster-admin one) into a pre-made ``sonobuoy`` namespace,
   then::

       sonobuoy gen config > C   # + Server.advertiseaddress = sonobuoy-aggregator:8080 (see run())
       sonobuoy run --kubeconfig K --config C --plugin <deploy/sonobuoy-plugin.yaml, image set> \
           --sonobuoy-image <registry>/sonobuoy:v<pin> --skip-preflight=existingnamespace --wait=30
       sonobuoy retrieve --kubeconfig K <dir>            # the results tarball, copied through the API server
       sonobuoy results <tarball>                         # plugin summary: passed/failed counts
       sonobuoy results <tarball> --mode detailed         # one line per catalogue id with its status
       sonobuoy delete --kubeconfig K --wait

   ``--plugin`` given alone runs only that plugin (no e2e, no systemd-logs);
4. the summary (``reports/sonobuoy/summary.{md,json}``): commands, seconds per step, the verdicts Sonobuoy
   read from the plugin's ``sonobuoy_results.yaml``.

    python -m localcluster.sonobuoy [--pytest-args '-m "not slow"'] [--report-dir reports/sonobuoy]
    make sonobuoy                                      # the same, with the local cluster started if needed
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import images, netns, suite_image
from .build import BuildError, build_sonobuoy, load_pins
from .paths import run_dir

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
DEFAULT_REPORT_DIR = REPO / "reports" / "sonobuoy"
NAMESPACE = "sonobuoy"
PLUGIN = "headless-dns-conformance"
DEFAULT_PYTEST_ARGS = '-n 2 -m "not slow"'


def version() -> str:
    return str(load_pins()["sonobuoy"]["version"])


RECIPE = images.ImageRecipe(
    "sonobuoy", f"v{version()}",
    files=(*images._etc([images.ROOT, ("nonroot", 65532, 65532, "/tmp"), images.NOBODY],
                        [("root", 0), ("nonroot", 65532), ("nogroup", 65534)]),
           images.ExtraFile("/sonobuoy", mode=0o755, source="sonobuoy")),
    cmd=("/sonobuoy", "aggregator", "--no-exit", "-v", "3", "--logtostderr"),
    user=65532, group=65532,
    env=(("PATH", images.DEFAULT_PATH), ("HOME", "/tmp")),
)
images.INPUT_HINTS["sonobuoy"] = ": the sonobuoy binary `localcluster.build.build_sonobuoy()` makes"


@dataclass
class Outcome:
    commands: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    tarball: str = ""
    summary_text: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)
    plugin_status: str = ""


def plugin_manifest(registry: str, pytest_args: str) -> dict[str, Any]:
    """deploy/sonobuoy-plugin.yaml with the image set (the documented sed) and the run's env overrides."""
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "sonobuoy-plugin.yaml").read_text().replace("REGISTRY/",
                                                                                              f"{registry}/"))
    env = {e["name"]: e for e in doc["spec"].get("env", [])}
    env["HSDNS_PYTEST_ARGS"] = {"name": "HSDNS_PYTEST_ARGS", "value": pytest_args}
    env["HSDNS_IMAGE_REGISTRY"] = {"name": "HSDNS_IMAGE_REGISTRY", "value": registry}
    doc["spec"]["env"] = list(env.values())
    return doc


def _sh(cmd: list[str], out: Outcome, step: str, log: Path, timeout: float = 3600,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    out.commands.append(shlex.join(cmd))
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    out.seconds[step] = round(out.seconds.get(step, 0) + time.monotonic() - t0, 1)
    with log.open("a") as fh:
        fh.write(f"\n$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}")
    if check and proc.returncode != 0:
        raise BuildError(f"`{shlex.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
                         f"{proc.stderr[-3000:]}")
    return proc


def detailed_items(text: str) -> list[dict[str, Any]]:
    """``sonobuoy results --mode detailed`` prints one JSON object per result item."""
    items = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    return items


def run(kubeconfig: str, report_dir: Path, pytest_args: str = DEFAULT_PYTEST_ARGS,
        log_fn: Any = print) -> Outcome:
    from kubernetes import config

    from . import kubeapply

    state = _state()
    report_dir.mkdir(parents=True, exist_ok=True)
    log = report_dir / "sonobuoy.log"
    log.write_text("")
    out = Outcome()
    t0 = time.monotonic()
    binary = build_sonobuoy(log=log_fn)
    out.seconds["build_cli"] = round(time.monotonic() - t0, 1)
    stamp = json.loads((binary.parent / "build.json").read_text())
    out.seconds["build_cli_recorded_compile"] = stamp["compile_seconds"]
    t0 = time.monotonic()
    prefix = netns.prefix(state.netns)
    agg_tar = images.build_image(RECIPE, inputs={"sonobuoy": binary}, log=log_fn)
    agg = images.push_image(agg_tar, images.image_reference(RECIPE, state.image_registry), prefix, log=log_fn)
    suite = suite_image.push(state.image_registry, prefix, log=log_fn)
    out.seconds["images"] = round(time.monotonic() - t0, 1)

    api = config.new_client_from_config(config_file=kubeconfig)
    rbac = [d for f in ("rbac.yaml", "sonobuoy-rbac.yaml") for d in yaml.safe_load_all((DEPLOY / f).read_text()) if d]
    ns_doc = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    plugin_file = report_dir / "sonobuoy-plugin.yaml"
    plugin_file.write_text(yaml.safe_dump(plugin_manifest(state.image_registry, pytest_args), sort_keys=False))
    base = [str(binary)]
    kc = ["--kubeconfig", kubeconfig]
    # The aggregator advertises "[<pod IP>]:8080" (brackets even around IPv4), which the worker built with
    # Go >= 1.24 rejects ("invalid IP-literal"): advertise the aggregator Service's name instead (its server
    # certificate then names it, and the plugin pods in the namespace resolve it through the cluster DNS).
    cfg = json.loads(_sh([*base, "gen", "config"], out, "gen_config", log).stdout)
    cfg["Server"]["advertiseaddress"] = f"sonobuoy-aggregator:{cfg['Server'].get('bindport', 8080)}"
    config_file = report_dir / "sonobuoy-config.json"
    config_file.write_text(json.dumps(cfg, indent=2) + "\n")
    try:
        _sh([*base, "delete", *kc, "--wait"], out, "delete_before", log, timeout=600, check=False)
        for d in [ns_doc, *rbac]:
            kubeapply.apply(api, d)
        t_run = time.monotonic()
        proc = _sh([*base, "run", *kc, "--config", str(config_file), "--plugin", str(plugin_file),
                    "--sonobuoy-image", agg.reference,
                    "--skip-preflight=existingnamespace", "--wait=30", "--wait-output=silent"],
                   out, "run", log, timeout=2400, check=False)
        status = _sh([*base, "status", *kc, "--json"], out, "status", log, check=False)
        out.plugin_status = status.stdout.strip()
        if proc.returncode != 0:
            raise BuildError(f"sonobuoy run failed (exit {proc.returncode}): {proc.stdout[-2000:]}"
                             f"{proc.stderr[-2000:]}\nstatus: {out.plugin_status[-2000:]}")
        out.seconds["run_wall"] = round(time.monotonic() - t_run, 1)
        got = _sh([*base, "retrieve", *kc, str(report_dir)], out, "retrieve", log)
        out.tarball = got.stdout.strip().splitlines()[-1]
        out.summary_text = _sh([*base, "results", out.tarball], out, "results", log).stdout
        detailed = _sh([*base, "results", out.tarball, "--mode", "detailed", "--plugin", PLUGIN], out, "results", log)
        out.items = detailed_items(detailed.stdout)
    finally:
        _sh([*base, "delete", *kc, "--wait"], out, "delete", log, timeout=600, check=False)
        for d in reversed(rbac):
            kubeapply.delete(api, d)
        kubeapply.delete(api, ns_doc)
    out.seconds["total_images_pushed"] = float(agg.pushed) + float(suite.pushed)
    write_summary(report_dir, out)
    return out


def _state() -> Any:
    from .cluster import State

    state = State.load(run_dir())
    if state is None or state.netns is None or not state.image_registry:
        raise BuildError(f"no local cluster with a real node and an image registry in {run_dir()}")
    return state


def tarball_members(path: str) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def write_summary(report_dir: Path, out: Outcome) -> None:
    lines = ["# Sonobuoy run of deploy/sonobuoy-plugin.yaml", "",
             f"sonobuoy v{version()} (built here); tarball `{Path(out.tarball).name}`", "",
             "| step | s |", "|---|---|", *(f"| {k} | {v} |" for k, v in out.seconds.items()), "",
             "## `sonobuoy results`", "", "```", out.summary_text.rstrip(), "```", "",
             "## `sonobuoy results --mode detailed` (per catalogue id)", "",
             "| name | status |", "|---|---|",
             *(f"| {i.get('name', '?')} | {i.get('status', '?')} |" for i in out.items), "",
             "## Commands", "", "```", *out.commands, "```", ""]
    (report_dir / "summary.md").write_text("\n".join(lines))
    (report_dir / "summary.json").write_text(json.dumps(out.__dict__, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.sonobuoy", description=__doc__.split("\n\n")[0])
    ap.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    ap.add_argument("--pytest-args", default=os.environ.get("HSDNS_SONOBUOY_PYTEST_ARGS", DEFAULT_PYTEST_ARGS),
                    help=f"HSDNS_PYTEST_ARGS of the plugin (default {DEFAULT_PYTEST_ARGS!r})")
    args = ap.parse_args(argv)
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        print("KUBECONFIG is not set: eval \"$(python -m localcluster env)\" first (or make sonobuoy)", file=sys.stderr)
        return 2
    try:
        out = run(kubeconfig, args.report_dir.resolve(), args.pytest_args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out.summary_text.rstrip())
    failed = [i for i in out.items if i.get("status") not in ("passed", "skipped")]
    print(f"{len(out.items)} items, {len(failed)} not passed/skipped; summary: {args.report_dir / 'summary.md'}")
    return 1 if failed or not out.items else 0


if __name__ == "__main__":
    sys.exit(main())

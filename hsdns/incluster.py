"""Reports out of an in-cluster run: ``kubectl cp`` without kubectl (exec + tar through the API server).

The Job (deploy/job.yaml) holds its pod for ``HSDNS_HOLD_RESULTS_S`` seconds after the run, so the reports
can be copied out; ``kubectl cp`` does that by running ``tar cf - DIR`` in the container over the exec
subresource and unpacking the stream locally, and so does :func:`copy_from_pod` (the image has ``tar``).
The unpacking refuses absolute names, ``..`` and links, as ``kubectl cp`` does.

    hsdns fetch-reports --namespace hsdns-conformance --job hsdns-conformance --to ./reports
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import time
from pathlib import Path, PurePosixPath

from kubernetes import client as k8s
from kubernetes.stream import stream

DEFAULT_NAMESPACE = "hsdns-conformance"
DEFAULT_JOB = "hsdns-conformance"
DEFAULT_DIR = "/tmp/results"


class CopyError(RuntimeError):
    pass


def job_pod(core: k8s.CoreV1Api, namespace: str, job: str) -> str:
    """The (newest) pod of a Job."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}", _request_timeout=30).items
    if not pods:
        raise CopyError(f"no pod of job {namespace}/{job}")
    pods.sort(key=lambda p: p.metadata.creation_timestamp)
    return str(pods[-1].metadata.name)


def exec_tar(core: k8s.CoreV1Api, namespace: str, pod: str, directory: str, container: str | None = None,
             timeout: float = 300) -> bytes:
    """``tar cf - -C DIRECTORY .`` in the container; its stdout (the archive) as bytes."""
    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, container=container,
                  command=["tar", "cf", "-", "-C", directory, "."], stderr=True, stdin=False, stdout=True,
                  tty=False, _preload_content=False, binary=True)
    out, err = io.BytesIO(), io.BytesIO()
    deadline = time.monotonic() + timeout
    try:
        while resp.is_open():
            if time.monotonic() > deadline:
                raise CopyError(f"tar in {namespace}/{pod} did not finish within {timeout:.0f}s")
            resp.update(timeout=1)
            if resp.peek_stdout():
                out.write(resp.read_stdout())
            if resp.peek_stderr():
                err.write(resp.read_stderr())
        # what arrived with the closing frames
        out.write(resp.read_stdout() or b"")
        err.write(resp.read_stderr() or b"")
        code = resp.returncode
    finally:
        resp.close()
    if code not in (0, None):
        raise CopyError(f"tar in {namespace}/{pod} exited {code}: {err.getvalue().decode(errors='replace')[-500:]}")
    return out.getvalue()


def unpack(data: bytes, dest: Path) -> list[str]:
    """Regular files and directories of a tar stream into ``dest``; returns the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            rel = PurePosixPath(member.name)
            if rel.is_absolute() or ".." in rel.parts:
                raise CopyError(f"refusing tar member {member.name!r}")
            target = dest.joinpath(*[p for p in rel.parts if p != "."])
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isreg():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                target.write_bytes(src.read())
                names.append(str(target.relative_to(dest)))
    return sorted(names)


def copy_from_pod(core: k8s.CoreV1Api, namespace: str, pod: str, directory: str, dest: Path,
                  container: str | None = None) -> list[str]:
    return unpack(exec_tar(core, namespace, pod, directory, container), dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hsdns fetch-reports", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, then ~/.kube/config")
    ap.add_argument("--context", default=None)
    ap.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--job", default=None, help=f"the Job whose pod holds the reports (default {DEFAULT_JOB})")
    who.add_argument("--pod", default=None)
    ap.add_argument("--container", default=None)
    ap.add_argument("--from", dest="source", default=DEFAULT_DIR, help=f"directory in the pod (default {DEFAULT_DIR})")
    ap.add_argument("--to", dest="dest", type=Path, default=Path("reports"), help="local directory (default ./reports)")
    args = ap.parse_args(argv)
    from fixtures.kube.api import ClusterAccessError, build_api_client
    from fixtures.options import raw_values, resolve_settings

    settings = resolve_settings(raw_values(lambda name: {"hsdns_kubeconfig": args.kubeconfig,
                                                         "hsdns_context": args.context}.get(name)))
    try:
        core = k8s.CoreV1Api(build_api_client(settings.kubeconfig or "", settings.context))
        pod = args.pod or job_pod(core, args.namespace, args.job or DEFAULT_JOB)
        names = copy_from_pod(core, args.namespace, pod, args.source, args.dest, args.container)
    except (CopyError, ClusterAccessError, k8s.ApiException) as exc:
        print(f"hsdns fetch-reports: {exc}", file=sys.stderr)
        return 4
    print(f"copied {len(names)} files from {args.namespace}/{pod}:{args.source} to {args.dest}")
    return 0

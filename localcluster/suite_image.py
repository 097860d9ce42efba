"""The suite's own image (deploy/Containerfile's equivalent), built here from Debian packages and the wheel.

deploy/Containerfile needs podman or docker, which this machine does not have; this recipe gives the
same image with the local image tooling (:mod:`localcluster.images`):

* Debian bookworm's python3.11 rootfs like the resolver stand-in's, plus bash, tar and gzip (the
  entrypoint script; ``tar`` also serves ``kubectl cp`` / ``hsdns fetch-reports``);
* the suite's wheel (``pip wheel`` of this repository) and its pinned dependencies, installed with
  ``pip install --target`` for CPython 3.11 manylinux x86_64 (binary wheels only) into
  ``/usr/local/lib/python3.11/dist-packages`` (on Debian's ``sys.path``), byte-compiled ahead
  (``unchecked-hash``: the pod may not write ``__pycache__``; the read-only root filesystem of
  deploy/job.yaml holds);
* ``/usr/local/bin/hsdns`` (the console command), ``/app/deploy/run-in-cluster.sh`` (entrypoint, as in
  the Containerfile), user 65532:65532, ``HOME=TMPDIR=/tmp``.

    python -m localcluster.suite_image build           # -> <cache>/images/headless-dns-conformance-*.tar
    python -m localcluster.suite_image push             # to the running local cluster's registry

Not built by ``up`` (not in ``images.RECIPES``); the in-cluster tests and ``make sonobuoy`` build it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from . import images
from .build import BuildError
from .paths import cache_dir

REPO = Path(__file__).resolve().parent.parent
REPOSITORY = "headless-dns-conformance"
SITE = "/usr/local/lib/python3.11/dist-packages"
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")
# What a wheel build needs from the tree (everything else, e.g. .venv, reports, node caches, stays out).


def wheel_sources(repo: Path = REPO) -> tuple[str, ...]:
    """What a wheel is built from: pyproject.toml, README.md, and the folders of the packages pyproject.toml
    lists ([tool.setuptools] packages and package-dir), so a package added there is never left out."""
    tool = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = dict(tool.get("package-dir") or {})
    folders = {mapped.get(p, p.replace(".", "/")).split("/")[0] for p in tool["packages"]}
    return ("pyproject.toml", "README.md", *sorted(folders))
HSDNS_SCRIPT = b"#!/usr/bin/python3.11\nimport sys\n\nfrom hsdns.cli import main\n\nsys.exit(main())\n"


def suite_version() -> str:
    from fixtures.paths import suite_version as version

    return version(REPO / "pyproject.toml")


def recipe(version: str | None = None) -> images.ImageRecipe:
    return images.ImageRecipe(
        REPOSITORY, version or suite_version(),
        packages=(*images.SHELL_PACKAGES, "bash", "tar", "gzip", "python3-minimal", "python3.11-minimal",
                  "libpython3.11-stdlib"),
        hooks=(images.LDCONFIG, images.COMPILEALL),
        files=(*images._etc([images.ROOT, ("nonroot", 65532, 65532, "/tmp"), images.NOBODY],
                            [("root", 0), ("nonroot", 65532), ("nogroup", 65534)]),
               images.ExtraFile("/usr/local/bin/hsdns", mode=0o755, content=HSDNS_SCRIPT),
               images.ExtraFile("/usr/local/bin/python", link="/usr/bin/python3.11"),
               images.ExtraFile("/app/deploy/run-in-cluster.sh", mode=0o755, source="run-in-cluster.sh")),
        trees=(images.ExtraTree(SITE, source="suite-site"),),
        entrypoint=("/app/deploy/run-in-cluster.sh",),
        user=65532, group=65532,
        env=(("PATH", images.DEFAULT_PATH), ("HOME", "/tmp"), ("TMPDIR", "/tmp"), ("LANG", "C.UTF-8"),
             ("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1")),
        workdir="/app",
        labels=(("org.opencontainers.image.title", REPOSITORY),),
    )


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise BuildError(f"failed (exit {proc.returncode}): {' '.join(cmd)}\nfull log: {log}\n"
                         f"--- last lines ---\n{tail}")


def build_wheel(dest: Path, repo: Path = REPO, log: Path | None = None) -> Path:
    """``pip wheel --no-deps`` of a copy of the repository's package sources (the work tree stays free of
    ``build/`` and ``*.egg-info``); returns the wheel in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    log = log or cache_dir() / "logs" / "suite-wheel.log"
    with tempfile.TemporaryDirectory(prefix="hsdns-wheel-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache")
        for name in wheel_sources(repo):
            path = repo / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=ignore)
            elif path.is_file():
                shutil.copy2(path, src / name)
        before = set(dest.glob("*.whl"))
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(dest),
              str(src)], log)
    built = sorted(set(dest.glob("headless_dns_conformance-*.whl")) - before) or sorted(
        dest.glob("headless_dns_conformance-*.whl"), key=lambda p: p.stat().st_mtime)
    if not built:
        raise BuildError(f"pip wheel wrote no wheel into {dest}; log: {log}")
    return built[-1]


def site_tree(wheel: Path, cache: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """The wheel and its dependencies installed for the image's Python (cached by the wheel's sha256)."""
    cache = cache or cache_dir()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    out = cache / "suite-site" / digest
    stamp = out.with_suffix(".json")
    if stamp.is_file() and out.is_dir():
        return out
    logfile = cache / "logs" / f"suite-site-{digest}.log"
    logfile.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=out.parent))
    t0 = time.monotonic()
    try:
        target = work / "site"
        _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-compile",
              "--target", str(target), "--only-binary=:all:", *(a for p in PLATFORMS for a in ("--platform", p)),
              "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
              "--cache-dir", str(cache / "pip"), str(wheel)], logfile)
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts with this host's interpreter path
        _run([sys.executable, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", "-d", SITE,
              str(target)], logfile)
        if out.exists():
            shutil.rmtree(out)
        target.replace(out)
        stamp.write_text(json.dumps({"wheel": wheel.name, "seconds": round(time.monotonic() - t0, 1)}) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"  suite site-packages for {wheel.name}: {time.monotonic() - t0:.0f}s -> {out}")
    return out


def build(cache: Path | None = None, wheel: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """The suite image's docker-archive (built if missing): wheel -> site tree -> image."""
    cache = cache or cache_dir()
    wheel = wheel or build_wheel(cache / "wheels")
    site = site_tree(wheel, cache, log)
    inputs = {"suite-site": site, "run-in-cluster.sh": REPO / "deploy" / "run-in-cluster.sh"}
    return images.build_image(recipe(), cache, inputs, log=log)


def reference(registry: str) -> str:
    return images.image_reference(recipe(), registry)


def push(registry: str, run_prefix: list[str], cache: Path | None = None,
         log: Callable[[str], None] = print) -> images.PushResult:
    tar = build(cache, log=log)
    return images.push_image(tar, reference(registry), run_prefix, cache=cache, log=log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.suite_image", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("build", "push"))
    args = ap.parse_args(argv)
    try:
        if args.command == "build":
            tar = build()
            print(f"{recipe().reference}\t{tar}")
            return 0
        from .cluster import State
        from .netns import prefix
        from .paths import run_dir

        state = State.load(run_dir())
        if state is None or state.netns is None or not state.image_registry:
            print("no local cluster with a real node and registry is running", file=sys.stderr)
            return 2
        res = push(state.image_registry, prefix(state.netns))
        print(f"{res.reference}\t{res.manifest_digest}\t{'pushed' if res.pushed else 'already there'}")
        return 0
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

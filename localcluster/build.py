"""Build the local cluster's binaries from published Go modules, only when missing.

Each component is built in its own module directory under the cache (never one shared go.mod:
MVS would drag client-go and grpc across components). Binaries land in
``<cache>/bin/<component>-<version>/`` and a ``build.json`` stamp records how long the build took
and how big each binary is, so a warm run does nothing and the docs can quote real figures.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .paths import cache_dir

PINS_FILE = Path(__file__).with_name("pins.toml")

# The control plane, plus the node components of a real node (kubelet, kube-proxy): one `go build`
# shares the compile of the common packages.
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


class BuildError(RuntimeError):
    """A build step failed; the message names the command and shows the tail of its output."""


def load_pins() -> dict[str, dict[str, Any]]:
    with PINS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def go_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOWORK="off",
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        CGO_ENABLED="0",
        GOMODCACHE=str(cache / "go" / "mod"),
        GOCACHE=str(cache / "go" / "build"),
        GOPATH=str(cache / "go" / "path"),
    )
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write(f"\n$ (cd {cwd} && {' '.join(cmd)})\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise BuildError(
            f"build step failed (exit {proc.returncode}): (cd {cwd} && {' '.join(cmd)})\n"
            f"full log: {log}\n--- last lines ---\n{tail}"
        )


def check_go(min_version: str) -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go is not installed or not on PATH. The local cluster is built from Go modules: "
            f"install Go >= {min_version} (e.g. /usr/local/go/bin) and retry."
        )
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"go(\d+)\.(\d+)", out)
    want = tuple(int(x) for x in min_version.split("."))
    if not m or (int(m.group(1)), int(m.group(2))) < want:
        raise BuildError(f"{out.strip() or 'go version failed'}: need Go >= {min_version}")
    return out.strip()


@dataclass
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]
    cache: Path
    extra: dict[str, list[str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Cache key: the pinned version, plus a digest of any other pinned build input."""
        if not self.extra:
            return f"{self.name}-{self.version}"
        digest = hashlib.sha256(json.dumps(self.extra, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.name}-{self.version}-{digest}"

    @property
    def bin_dir(self) -> Path:
        return self.cache / "bin" / self.key

    @property
    def build_dir(self) -> Path:
        return self.cache / "build" / self.key

    @property
    def stamp(self) -> Path:
        return self.bin_dir / "build.json"

    @property
    def log(self) -> Path:
        return self.cache / "logs" / f"build-{self.key}.log"

    def is_built(self) -> bool:
        return self.stamp.is_file() and all((self.bin_dir / b).is_file() for b in self.binaries)

    # prepare = write the module and download dependencies (network-bound, runs in parallel);
    # compile = go build (CPU-bound, runs one at a time on a 2-core machine).
    def prepare(self, env: dict[str, str]) -> None:
        raise NotImplementedError

    def compile(self, env: dict[str, str]) -> None:
        raise NotImplementedError


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class Kubernetes(Component):
    def staging_modules(self, env: dict[str, str]) -> list[str]:
        # Derived from the release's own go.mod, never hand-maintained: every k8s.io module
        # required at the fake version v0.0.0 lives in staging/ and needs a replace.
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{self.version}"],
            cwd=self.build_dir, env=env, capture_output=True, text=True, check=False,
        )
        if out.returncode != 0:
            raise BuildError(f"go mod download k8s.io/kubernetes@v{self.version} failed:\n"
                             f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
        gomod = Path(json.loads(out.stdout)["GoMod"]).read_text()
        return sorted(set(re.findall(r"^\s+(k8s\.io/[a-z0-9-]+) v0\.0\.0$", gomod, re.M)))

    def prepare(self, env: dict[str, str]) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        staging = self.staging_modules(env)
        minor = self.version.split(".", 1)[1]
        lines = [
            "module local.invalid/k8sbins", "", "go 1.24.0", "", "godebug default=go1.24", "",
            f"require k8s.io/kubernetes v{self.version}", "", "replace (",
            *(f"\t{m} => {m} v0.{minor}" for m in staging), ")", "", "tool (",
            *(f"\tk8s.io/kubernetes/cmd/{c}" for c in self.binaries), ")", "",
        ]
        _write(self.build_dir / "go.mod", "\n".join(lines))
        _run(["go", "mod", "tidy"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        major, minor, _ = self.version.split(".")
        date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ldflags = ["-s", "-w"]
        # The same keys hack/lib/version.sh stamps; unstamped binaries report v0.0.0.
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            for key, val in (("gitVersion", f"v{self.version}"), ("gitMajor", major), ("gitMinor", minor),
                             ("gitCommit", "0" * 40), ("gitTreeState", "clean"), ("buildDate", date)):
                ldflags.append(f"-X '{pkg}.{key}={val}'")
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        _run(["go", "build", "-trimpath", "-tags", "grpcnotrace", "-ldflags", " ".join(ldflags),
              "-o", str(self.bin_dir) + "/", *(f"k8s.io/kubernetes/cmd/{c}" for c in self.binaries)],
             self.build_dir, env, self.log)


class Etcd(Component):
    def prepare(self, env: dict[str, str]) -> None:
        # `go install go.etcd.io/etcd/server/v3@...` is refused (its go.mod has replaces); the
        # upstream main is one line, so we write the same one line.
        _write(self.build_dir / "main.go",
               'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
               "func main() { etcdmain.Main(os.Args) }\n")
        _write(self.build_dir / "go.mod",
               f"module local.invalid/etcd\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 v{self.version}\n")
        _run(["go", "mod", "tidy"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(self.bin_dir / "etcd"), "."],
             self.build_dir, env, self.log)


class CoreDNS(Component):
    def prepare(self, env: dict[str, str]) -> None:
        plugins = self.extra.get("plugins", [])
        imports = "\n".join(f'\t_ "github.com/coredns/coredns/plugin/{p}"' for p in plugins)
        # Only the plugins our Corefiles use: the stock main pulls in every cloud SDK.
        _write(self.build_dir / "main.go",
               'package main\n\nimport (\n\t"github.com/coredns/coredns/coremain"\n'
               f"{imports}\n)\n\nfunc main() {{ coremain.Run() }}\n")
        _write(self.build_dir / "go.mod",
               f"module local.invalid/coredns\n\ngo 1.25.0\n\nrequire github.com/coredns/coredns v{self.version}\n")
        _run(["go", "mod", "tidy"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(self.bin_dir / "coredns"), "."],
             self.build_dir, env, self.log)


class Kwok(Component):
    def prepare(self, env: dict[str, str]) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        _run(["go", "mod", "download", f"sigs.k8s.io/kwok@v{self.version}"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        install_env = dict(env, GOBIN=str(self.bin_dir))
        _run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@v{self.version}"],
             self.build_dir, install_env, self.log)
        # The Exec CRD ships in the kwok module; keep a copy next to the binary so `up` never
        # needs the module cache.
        crd = (Path(env["GOMODCACHE"]) / f"sigs.k8s.io/kwok@v{self.version}"
               / "kustomize/crd/bases/kwok.x-k8s.io_execs.yaml")
        shutil.copyfile(crd, self.bin_dir / "kwok.x-k8s.io_execs.yaml")


class CriTools(Component):
    """crictl: the CRI client that tears real nodes' pod sandboxes down the way the kubelet would
    (StopPodSandbox runs the CNI DEL, RemovePodSandbox removes the containers and their shims)."""

    def prepare(self, env: dict[str, str]) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        _run(["go", "mod", "download", f"sigs.k8s.io/cri-tools@v{self.version}"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        install_env = dict(env, GOBIN=str(self.bin_dir))
        ldflags = f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v{self.version}"
        _run(["go", "install", "-trimpath", "-ldflags", ldflags, f"sigs.k8s.io/cri-tools/cmd/crictl@v{self.version}"],
             self.build_dir, install_env, self.log)


def components(cache: Path | None = None) -> list[Component]:
    pins = load_pins()
    cache = cache or cache_dir()
    return [
        Kubernetes("kubernetes", str(pins["kubernetes"]["version"]), K8S_COMMANDS, cache,
                   extra={"commands": list(K8S_COMMANDS)}),
        Etcd("etcd", str(pins["etcd"]["version"]), ("etcd",), cache),
        CoreDNS("coredns", str(pins["coredns"]["version"]), ("coredns",), cache,
                extra={"plugins": [str(p) for p in pins["coredns"]["plugins"]]}),
        Kwok("kwok", str(pins["kwok"]["version"]), ("kwok",), cache),
        CriTools("cri-tools", str(pins["cri-tools"]["version"]), ("crictl",), cache),
    ]


def binary_paths(cache: Path | None = None) -> dict[str, Path]:
    """Path of every binary the launcher needs, e.g. {"etcd": .../etcd-3.6.16/etcd}."""
    return {b: c.bin_dir / b for c in components(cache) for b in c.binaries}


def build_all(cache: Path | None = None, log: Callable[[str], None] = print) -> dict[str, dict[str, object]]:
    cache = cache or cache_dir()
    comps = components(cache)
    missing = [c for c in comps if not c.is_built()]
    if not missing:
        return {c.name: json.loads(c.stamp.read_text()) for c in comps}
    log(f"go: {check_go(str(load_pins()['go']['min_version']))}")
    env = go_env(cache)
    started: dict[str, float] = {}
    prep_s: dict[str, float] = {}

    def prep(c: Component) -> None:
        started[c.name] = time.monotonic()
        c.log.unlink(missing_ok=True)
        c.prepare(env)
        prep_s[c.name] = time.monotonic() - started[c.name]
        log(f"  {c.name} {c.version}: dependencies ready in {prep_s[c.name]:.0f}s")

    log(f"building missing components into {cache}: {', '.join(f'{c.name} {c.version}' for c in missing)}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(missing)) as pool:
        for fut in [pool.submit(prep, c) for c in missing]:
            fut.result()
    for c in missing:
        t0 = time.monotonic()
        log(f"  {c.name} {c.version}: compiling ...")
        c.compile(env)
        compile_s = time.monotonic() - t0
        record = {
            "version": c.version,
            "prepare_seconds": round(prep_s[c.name], 1),
            "compile_seconds": round(compile_s, 1),
            "sizes_bytes": {b: (c.bin_dir / b).stat().st_size for b in c.binaries},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "go": check_go("1.0"),
        }
        c.stamp.write_text(json.dumps(record, indent=2) + "\n")
        log(f"  {c.name} {c.version}: built in {compile_s:.0f}s -> {c.bin_dir}")
    return {c.name: json.loads(c.stamp.read_text()) for c in comps}



# --- upstream e2e (issue 8): built on demand only, never by build_all() / `up` --------------------

class E2E(Kubernetes):
    """The upstream e2e test binary (``go test -c k8s.io/kubernetes/test/e2e``), agnhost and kubectl,
    from the same k8s.io/kubernetes release as the control plane.

    Its own module directory (a sibling of the control plane's, so building it never rewrites the
    go.mod an ``up`` may be compiling from), written the same way: ``require k8s.io/kubernetes``, the
    staging ``replace`` lines derived from the release's go.mod, ``tool`` lines for the main packages.
    ``go mod tidy`` keeps only what the main module's packages import, and the e2e suite's imports
    live in a *test* file of a dependency (test/e2e/e2e_test.go), so a ``//go:build tools`` file
    blank-imports test/e2e and every non-standard import of its test files (read from the module
    cache, never hand-maintained); tidy then records them all and ``go test -c`` needs nothing more.
    Same GOMODCACHE/GOCACHE, -trimpath, tags and version ldflags as the control plane, so every
    package both share is compiled once.
    """

    MAINS: ClassVar[dict[str, str]] = {"agnhost": "k8s.io/kubernetes/test/images/agnhost",
                                       "kubectl": "k8s.io/kubernetes/cmd/kubectl"}
    SUITE = "k8s.io/kubernetes/test/e2e"

    def suite_test_imports(self, env: dict[str, str]) -> list[str]:
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{self.version}"],
            cwd=self.build_dir, env=env, capture_output=True, text=True, check=False,
        )
        if out.returncode != 0:
            raise BuildError(f"go mod download k8s.io/kubernetes@v{self.version} failed:\n{out.stderr[-2000:]}")
        suite_dir = Path(json.loads(out.stdout)["Dir"]) / "test" / "e2e"
        imports: set[str] = {self.SUITE}
        for test_file in sorted(suite_dir.glob("*_test.go")):
            text = test_file.read_text()
            blocks = (re.findall(r"^import\s*\((.*?)^\)", text, re.M | re.S)
                      + re.findall(r'^import\s+(".*?")', text, re.M))
            for block in blocks:
                for path in re.findall(r'"([^"]+)"', block):
                    if "." in path.split("/", 1)[0]:  # the standard library has no dot in its first element
                        imports.add(path)
        return sorted(imports)

    def prepare(self, env: dict[str, str]) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        staging = self.staging_modules(env)
        minor = self.version.split(".", 1)[1]
        lines = [
            "module local.invalid/k8se2e", "", "go 1.24.0", "", "godebug default=go1.24", "",
            f"require k8s.io/kubernetes v{self.version}", "", "replace (",
            *(f"\t{m} => {m} v0.{minor}" for m in staging), ")", "", "tool (",
            *(f"\t{pkg}" for pkg in sorted(self.MAINS.values())), ")", "",
        ]
        _write(self.build_dir / "go.mod", "\n".join(lines))
        _write(self.build_dir / "tools.go",
               "//go:build tools\n\n// Keeps the e2e suite's test-only imports in go.mod (go mod tidy).\n"
               "package tools\n\n"
               "import (\n" + "".join(f'\t_ "{p}"\n' for p in self.suite_test_imports(env)) + ")\n")
        _run(["go", "mod", "tidy"], self.build_dir, env, self.log)

    def ldflags(self) -> str:
        major, minor, _ = self.version.split(".")
        date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        flags = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            for key, val in (("gitVersion", f"v{self.version}"), ("gitMajor", major), ("gitMinor", minor),
                             ("gitCommit", "0" * 40), ("gitTreeState", "clean"), ("buildDate", date)):
                flags.append(f"-X '{pkg}.{key}={val}'")
        return " ".join(flags)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        common = ["-trimpath", "-tags", "grpcnotrace", "-ldflags", self.ldflags()]
        mains = [b for b in self.binaries if b in self.MAINS]
        if mains:
            _run(["go", "build", *common, "-o", str(self.bin_dir) + "/", *(self.MAINS[b] for b in mains)],
                 self.build_dir, env, self.log)
        if "e2e.test" in self.binaries:
            _run(["go", "test", "-c", *common, "-o", str(self.bin_dir / "e2e.test"), self.SUITE],
                 self.build_dir, env, self.log)


# CoreDNS as the agnhost image ships it at /coredns (upstream: a stock release, every plugin; the DNS
# e2e tests run it with Corefiles using `hosts` and `forward`): the cluster's plugin list plus those.
E2E_COREDNS_EXTRA_PLUGINS = ("forward", "hosts")


def e2e_components(cache: Path | None = None) -> list[Component]:
    """What ``make upstream-dns-e2e`` needs besides the cluster; not part of :func:`components`."""
    pins = load_pins()
    cache = cache or cache_dir()
    version = str(pins["kubernetes"]["version"])
    plugins = sorted({*(str(p) for p in pins["coredns"]["plugins"]), *E2E_COREDNS_EXTRA_PLUGINS})
    return [
        E2E("kubernetes-e2e", version, ("e2e.test", "agnhost", "kubectl"), cache,
            extra={"binaries": ["e2e.test", "agnhost", "kubectl"]}),
        CoreDNS("coredns-e2e", str(pins["coredns"]["version"]), ("coredns",), cache, extra={"plugins": plugins}),
    ]


def build_e2e(cache: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build the :func:`e2e_components` that are missing (one compile at a time) and return the path
    of every binary: ``e2e.test``, ``agnhost``, ``kubectl`` and ``coredns`` (the agnhost image's)."""
    cache = cache or cache_dir()
    comps = e2e_components(cache)
    missing = [c for c in comps if not c.is_built()]
    if missing:
        log(f"go: {check_go(str(load_pins()['go']['min_version']))}")
        env = go_env(cache)
        for c in missing:
            c.log.unlink(missing_ok=True)
            t0 = time.monotonic()
            log(f"  {c.name} {c.version}: dependencies ...")
            c.prepare(env)
            prep_s = time.monotonic() - t0
            t1 = time.monotonic()
            log(f"  {c.name} {c.version}: dependencies ready in {prep_s:.0f}s; compiling {', '.join(c.binaries)} ...")
            c.compile(env)
            compile_s = time.monotonic() - t1
            record = {
                "version": c.version,
                "prepare_seconds": round(prep_s, 1),
                "compile_seconds": round(compile_s, 1),
                "sizes_bytes": {b: (c.bin_dir / b).stat().st_size for b in c.binaries},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "go": check_go("1.0"),
            }
            c.stamp.write_text(json.dumps(record, indent=2) + "\n")
            log(f"  {c.name} {c.version}: built in {compile_s:.0f}s -> {c.bin_dir}")
    return {b: c.bin_dir / b for c in comps for b in c.binaries}



# --- sonobuoy (issue 14): built on demand only, never by build_all() / `up` ------------------------

class Sonobuoy(Component):
    """The ``sonobuoy`` CLI (``go install github.com/vmware-tanzu/sonobuoy@v<pin>``, whose go.mod has no
    replaces). The same binary is the aggregator and the worker inside the cluster, so it is also the
    one input of the aggregator image (``localcluster.images.SONOBUOY``). The version the binary reports
    is stamped like upstream's Makefile does (``pkg/buildinfo.Version``)."""

    MODULE = "github.com/vmware-tanzu/sonobuoy"

    def prepare(self, env: dict[str, str]) -> None:
        # A module of its own with a `tool` line (not `go install pkg@version`: that asks the proxy for the
        # module's version list to check deprecations, which the proxy refuses for this module).
        _write(self.build_dir / "go.mod",
               f"module local.invalid/sonobuoy\n\ngo 1.24.0\n\nrequire {self.MODULE} v{self.version}\n\n"
               f"tool {self.MODULE}\n")
        _run(["go", "mod", "tidy"], self.build_dir, env, self.log)

    def compile(self, env: dict[str, str]) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        ldflags = (f"-s -w -X {self.MODULE}/pkg/buildinfo.Version=v{self.version} "
                   f"-X {self.MODULE}/pkg/buildinfo.GitSHA=v{self.version}")
        _run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(self.bin_dir / "sonobuoy"), self.MODULE],
             self.build_dir, env, self.log)


def sonobuoy_component(cache: Path | None = None) -> Component:
    return Sonobuoy("sonobuoy", str(load_pins()["sonobuoy"]["version"]), ("sonobuoy",), cache or cache_dir())


def build_sonobuoy(cache: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Build the pinned ``sonobuoy`` binary if missing (stamp ``build.json`` as for the cluster) and return
    its path. Not part of :func:`components`: ``up`` never builds it."""
    c = sonobuoy_component(cache)
    if not c.is_built():
        log(f"go: {check_go(str(load_pins()['go']['min_version']))}")
        env = go_env(c.cache)
        c.log.unlink(missing_ok=True)
        t0 = time.monotonic()
        c.prepare(env)
        prep_s = time.monotonic() - t0
        log(f"  sonobuoy {c.version}: dependencies ready in {prep_s:.0f}s; compiling ...")
        t1 = time.monotonic()
        c.compile(env)
        compile_s = time.monotonic() - t1
        record = {"version": c.version, "prepare_seconds": round(prep_s, 1), "compile_seconds": round(compile_s, 1),
                  "sizes_bytes": {b: (c.bin_dir / b).stat().st_size for b in c.binaries},
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "go": check_go("1.0")}
        c.stamp.write_text(json.dumps(record, indent=2) + "\n")
        log(f"  sonobuoy {c.version}: built in {compile_s:.0f}s -> {c.bin_dir}")
    return c.bin_dir / "sonobuoy"

if __name__ == "__main__":
    try:
        build_all()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)

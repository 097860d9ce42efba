"""Container images for the real-node local cluster, built here from Debian's packages.

Nothing can be pulled from outside this machine and there is no Docker engine, so every image a
real node needs (the pod sandbox, the suite's default workload and resolver images, CoreDNS) is
built locally:

* a root filesystem from Debian packages with ``mmdebstrap --variant=extract`` (packages and their
  hard dependencies unpacked, no maintainer scripts, no dpkg database, no apt), from the same apt
  sources this machine uses, followed by small fix-ups in an extract hook (``ldconfig``, byte-compiling
  the Python standard library);
* one layer, written by Python's ``tarfile`` from that rootfs (filtered: no device nodes, no apt
  state, no docs) plus the recipe's extra files (``/etc/passwd``, a static binary given at build time);
* a **docker-archive** (``manifest.json``, the image config, ``<diff_id>/layer.tar``) with fixed
  mtimes, which ``skopeo``, ``ctr images import`` and ``docker load`` all read.

Recipes are data (:class:`ImageRecipe`). Images are cached under ``<cache>/images`` keyed by a
digest of the recipe, the apt sources and the content of every extra file, with a ``.json`` stamp
next to each tar (build seconds, sizes, digests, package versions), so a warm call does nothing.

Images are not the upstream bits, only stand-ins with the same role: ``pause`` is Debian's
``catatonit -P``, the "UBI python" image is Debian's python3.11, "agnhost" is a shell plus ``dig``.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any

from .build import BuildError
from .paths import cache_dir

# Bump when the builder's output changes for the same recipe (forces a rebuild of every image).
FORMAT_VERSION = 2
# Fixed timestamp of everything the builder writes, and the clamp for files from packages
# (SOURCE_DATE_EPOCH for mmdebstrap): 2024-01-01T00:00:00Z.
EPOCH = 1704067200
SUITE = "bookworm"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# What /etc/apt/sources.list.d/debian.sources on this machine says; used when that file is absent.
DEFAULT_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Paths dpkg's path-exclude keeps out of the rootfs while unpacking (mmdebstrap's tar filter
# honours them in the extract variant too).
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/bug/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# Dropped from mmdebstrap's rootfs when writing the layer (fnmatch patterns on the path without a
# leading slash; ``*`` crosses ``/``): the runtime provides /dev, /etc/hostname and
# /etc/resolv.conf (these two are the build host's), and an image without apt needs no apt state.
DEFAULT_DROP = (
    "dev/*",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/fstab",
    "etc/apt", "etc/apt/*",
    "etc/dpkg/dpkg.cfg.d/99mmdebstrap",
    "var/lib/dpkg/status-old",
    "var/cache/apt", "var/cache/apt/*",
    "var/lib/apt", "var/lib/apt/*",
    "var/log/apt", "var/log/apt/*",
)


class ImageError(BuildError):
    """An image step failed; the message names the command and shows the tail of its output."""


@dataclass(frozen=True)
class ExtraFile:
    """A file put into the image's layer on top of (replacing) anything the packages installed.

    Exactly one of ``content`` (inline bytes), ``source`` (the name of a build input: a path given
    to :func:`build_image` in ``inputs``) or ``link`` (a symlink target) is set. An ``optional``
    file whose input is not given is left out (and does not count in the cache key).
    """

    path: str
    mode: int = 0o644
    content: bytes | None = None
    source: str | None = None
    link: str | None = None
    optional: bool = False
    uid: int = 0
    gid: int = 0

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.rstrip("/") != self.path or ".." in self.path.split("/"):
            raise ValueError(f"extra file path must be absolute and normalised: {self.path!r}")
        if sum(x is not None for x in (self.content, self.source, self.link)) != 1:
            raise ValueError(f"{self.path}: set exactly one of content, source, link")


@dataclass(frozen=True)
class ExtraTree:
    """A directory (the build input ``source``, a path given in ``inputs``) copied into the image at ``path``:
    regular files keep their mode bits, symlinks stay symlinks, owners are root. For file trees a recipe
    cannot list one by one, e.g. the Python packages of the suite image."""

    path: str
    source: str

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.rstrip("/") != self.path or ".." in self.path.split("/"):
            raise ValueError(f"extra tree path must be absolute and normalised: {self.path!r}")


@dataclass(frozen=True)
class ImageRecipe:
    """How to build one image. ``repository`` is the path under a registry (``e2e-test-images/agnhost``)."""

    repository: str
    tag: str
    packages: tuple[str, ...] = ()
    # When set, only rootfs paths matching one of these patterns (and their parent directories)
    # go into the layer: e.g. just a static binary out of its package.
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = DEFAULT_DROP
    # Shell commands run by mmdebstrap's extract hook with "$1" = the rootfs (on the host, as root).
    hooks: tuple[str, ...] = ()
    files: tuple[ExtraFile, ...] = ()
    trees: tuple[ExtraTree, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: int = 0
    group: int | None = None
    env: tuple[tuple[str, str], ...] = (("PATH", DEFAULT_PATH),)
    workdir: str = "/"
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def reference(self) -> str:
        """``repository:tag`` (no registry)."""
        return f"{self.repository}:{self.tag}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.repository)

    @property
    def user_spec(self) -> str:
        return str(self.user) if self.group is None else f"{self.user}:{self.group}"


@dataclass(frozen=True)
class PushResult:
    reference: str
    manifest_digest: str
    config_digest: str
    pushed: bool
    seconds: float


# --- recipes ------------------------------------------------------------------------------------

def _passwd(*users: tuple[str, int, int, str]) -> bytes:
    return "".join(f"{n}:x:{u}:{g}:{n}:{home}:/bin/sh\n" for n, u, g, home in users).encode()


def _group(*groups: tuple[str, int]) -> bytes:
    return "".join(f"{n}:x:{g}:\n" for n, g in groups).encode()


ROOT = ("root", 0, 0, "/root")
NOBODY = ("nobody", 65534, 65534, "/nonexistent")
HOSTS = b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# Debian's default order (files before dns); glibc without the file would ask DNS first.
NSSWITCH = (b"passwd:         files\ngroup:          files\nshadow:         files\ngshadow:        files\n\n"
            b"hosts:          files dns\nnetworks:       files\n\nprotocols:      files\nservices:       files\n"
            b"ethers:         files\nrpc:            files\n")
SHELL_PACKAGES = ("dash", "coreutils", "libc-bin")
LDCONFIG = 'chroot "$1" /sbin/ldconfig'
# unchecked-hash: the layer clamps mtimes, which would invalidate timestamp-based .pyc files; the
# pod's user cannot write __pycache__ under /usr, so without these every exec compiles its imports.
COMPILEALL = ('chroot "$1" /usr/bin/python3.11 -m compileall -q -j0 --invalidation-mode unchecked-hash '
              "/usr/lib/python3.11")
PAUSE_LOOP = ("sh", "-c", "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done")


def _pinned_coredns() -> str:
    """CoreDNS image tag = the version localcluster.build compiles (pins.toml)."""
    try:
        from .build import load_pins

        return str(load_pins()["coredns"]["version"])
    except (OSError, KeyError, ValueError):
        return "1.14.7"


def _etc(users: Sequence[tuple[str, int, int, str]], groups: Sequence[tuple[str, int]],
         *, net: bool = True) -> tuple[ExtraFile, ...]:
    files = [ExtraFile("/etc/passwd", content=_passwd(*users)), ExtraFile("/etc/group", content=_group(*groups))]
    if net:
        files += [ExtraFile("/etc/hosts", content=HOSTS), ExtraFile("/etc/nsswitch.conf", content=NSSWITCH)]
    return tuple(files)


PAUSE = ImageRecipe(
    "pause", "3.10",
    packages=("catatonit",),
    keep=("usr/bin/catatonit", "usr/share/doc/catatonit/copyright"),  # static binary: nothing else needed
    entrypoint=("/usr/bin/catatonit", "-P"),
    user=65535, group=65535,
    env=(),
)
PYTHON = ImageRecipe(
    "ubi9/python-311", "latest",
    packages=(*SHELL_PACKAGES, "python3-minimal", "python3.11-minimal", "libpython3.11-stdlib"),
    hooks=(LDCONFIG, COMPILEALL),
    files=_etc([ROOT, ("default", 1001, 0, "/tmp"), NOBODY], [("root", 0), ("nogroup", 65534)]),
    cmd=PAUSE_LOOP,
    user=1001,
    env=(("PATH", DEFAULT_PATH), ("HOME", "/tmp"), ("LANG", "C.UTF-8")),
)
AGNHOST = ImageRecipe(
    "e2e-test-images/agnhost", "2.53",
    packages=(*SHELL_PACKAGES, "bind9-dnsutils"),
    hooks=(LDCONFIG,),
    files=(*_etc([ROOT, NOBODY], [("root", 0), ("nogroup", 65534)]),
           ExtraFile("/agnhost", mode=0o755, source="agnhost", optional=True)),
    cmd=PAUSE_LOOP,
    user=0,
)
COREDNS = ImageRecipe(
    "coredns", _pinned_coredns(),
    files=(*_etc([ROOT, ("nonroot", 65532, 65532, "/home/nonroot"), NOBODY],
                 [("root", 0), ("nonroot", 65532), ("nogroup", 65534)], net=False),
           ExtraFile("/coredns", mode=0o755, source="coredns")),
    entrypoint=("/coredns",),
    user=65532, group=65532,
    exposed_ports=("53/tcp", "53/udp"),
)
PYTHON_NOSH = ImageRecipe(
    "hsdns/python-nosh", "1",
    packages=SHELL_PACKAGES,
    hooks=(LDCONFIG,),
    files=_etc([ROOT, ("default", 1001, 0, "/tmp"), NOBODY], [("root", 0), ("nogroup", 65534)]),
    cmd=PAUSE_LOOP,
    user=1001,
    env=(("PATH", DEFAULT_PATH), ("HOME", "/tmp"), ("LANG", "C.UTF-8")),
)


def _musl_getent_hooks(source: Path) -> tuple[str, ...]:
    """Compile our own getent (``localcluster/musl_getent.c``) inside the rootfs with Debian's musl-gcc,
    linked against musl's libc.so, then link busybox's applets. The source goes into the hook itself
    (a quoted here-document), so the recipe's cache key changes with it."""
    try:
        text = source.read_text()
    except OSError:
        text = ""
    if not text or "\nHSDNS_GETENT_C\n" in f"\n{text}\n":
        return (f"echo 'the source {source.name} is missing or unusable' >&2; exit 1",)
    return (
        'mkdir -p "$1/tmp" "$1/usr/local/bin"',
        "cat > \"$1/tmp/hsdns-getent.c\" <<'HSDNS_GETENT_C'\n" + text.rstrip("\n") + "\nHSDNS_GETENT_C",
        # musl-gcc (musl-tools) is a shell script: run it with the rootfs's busybox, whose sh is the only one
        'chroot "$1" /usr/bin/busybox sh /usr/bin/musl-gcc -Os -s -Wall -Werror -o /usr/bin/getent /tmp/hsdns-getent.c',
        'rm -f "$1/tmp/hsdns-getent.c"',
        'for a in $("$1/usr/bin/busybox" --list); do ln -sf /usr/bin/busybox "$1/usr/local/bin/$a"; done',
    )


MUSL_GETENT_SOURCE = Path(__file__).with_name("musl_getent.c")
# The stand-in of the suite's --musl-image default (docker.io/library/alpine:3.21, whose musl-utils getent
# the musl case runs): musl's libc and dynamic loader (Debian's `musl`, /lib/ld-musl-x86_64.so.1), our own
# getent compiled against it at build time (gcc and musl-tools are in the rootfs only while building:
# `keep` leaves them out of the layer), and busybox as the shell. User 0, as Alpine's.
MUSL = ImageRecipe(
    "library/alpine", "3.21",
    packages=("musl", "musl-dev", "musl-tools", "busybox-static"),
    keep=("bin", "lib", "usr/bin/busybox", "usr/bin/getent", "usr/local/bin/*", "usr/lib/ld-musl-x86_64.so.1",
          "usr/lib/x86_64-linux-musl/libc.so", "etc/ld-musl-x86_64.path", "usr/share/doc/musl/copyright",
          "usr/share/doc/busybox-static/copyright"),
    hooks=_musl_getent_hooks(MUSL_GETENT_SOURCE),
    files=(*_etc([ROOT, NOBODY], [("root", 0), ("nogroup", 65534)], net=False),
           ExtraFile("/etc/hosts", content=HOSTS),
           ExtraFile("/usr/bin/sh", mode=0o777, link="busybox")),
    cmd=("/bin/sh",),
    user=0,
)

# Short names for the CLI and callers; the repository paths are what the suite's images rewrite to.
RECIPES: dict[str, ImageRecipe] = {
    "pause": PAUSE,
    "python": PYTHON,
    "agnhost": AGNHOST,
    "coredns": COREDNS,
    "python-nosh": PYTHON_NOSH,
    "musl": MUSL,
}


def with_agnhost_binary(recipe: ImageRecipe = AGNHOST) -> ImageRecipe:
    """The agnhost stand-in with a real ``/agnhost`` (input ``agnhost``) as upstream's entrypoint."""
    files = tuple(f for f in recipe.files if f.path != "/agnhost")
    return replace(recipe, files=(*files, ExtraFile("/agnhost", mode=0o755, source="agnhost")),
                   entrypoint=("/agnhost",), cmd=("pause",))


def find_recipe(name: str) -> ImageRecipe:
    """By short name (``pause``), repository (``ubi9/python-311``) or ``repository:tag``."""
    if name in RECIPES:
        return RECIPES[name]
    for r in RECIPES.values():
        if name in (r.repository, r.reference):
            return r
    raise ImageError(f"unknown image {name!r}; known: {', '.join(RECIPES)}")


def default_inputs(cache: Path | None = None) -> dict[str, Path]:
    """Build inputs found in the cache: the CoreDNS binary built by ``localcluster.build``."""
    from .build import binary_paths

    try:
        coredns = binary_paths(cache).get("coredns")
    except (OSError, KeyError, ValueError):
        return {}
    return {"coredns": coredns} if coredns and coredns.is_file() else {}


def image_reference(recipe: ImageRecipe, registry: str) -> str:
    """``<registry>/<repository>:<tag>``."""
    return f"{registry.rstrip('/')}/{recipe.reference}"


# --- apt sources ----------------------------------------------------------------------------------

def apt_mirrors(sources: Path = DEBIAN_SOURCES, suite: str = SUITE) -> tuple[str, ...]:
    """This machine's apt sources for ``suite`` as one-line ``deb URI SUITE COMPONENTS`` entries.

    Read from the deb822 file (``Types``/``URIs``/``Suites``/``Components``) so images get exactly
    the packages the machine sees; the built-in default matches the file on the build machine.
    """
    try:
        text = sources.read_text()
    except OSError:
        return DEFAULT_MIRRORS
    out: list[str] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, val = line.partition(":")
            fields[key.strip().lower()] = val.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for s in fields.get("suites", "").split():
                if s == suite or s.startswith(f"{suite}-"):
                    out.append(f"deb {uri} {s} {fields.get('components', 'main')}")
    return tuple(out) or DEFAULT_MIRRORS


# --- cache key ------------------------------------------------------------------------------------

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_digest(path: Path, memo: Path | None) -> str:
    """sha256 of a file, remembered by (path, size, mtime, inode) so a warm call does not re-read 50 MB."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    known: dict[str, str] = {}
    if memo is not None:
        try:
            known = json.loads(memo.read_text())
        except (OSError, ValueError):
            known = {}
        if key in known:
            return known[key]
    digest = _sha256_file(path)
    if memo is not None:
        known = {k: v for k, v in known.items() if not k.startswith(f"{path.resolve()}|")}
        known[key] = digest
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        tmp.replace(memo)
    return digest


INPUT_HINTS = {"coredns": ": the CoreDNS binary `python -m localcluster build` makes (<cache>/bin/coredns-*/coredns)"}


def resolve_files(recipe: ImageRecipe, inputs: Mapping[str, Path] | None = None) -> list[tuple[ExtraFile, Path | None]]:
    """The recipe's extra files that go in, each with the input path it is read from (if any)."""
    inputs = inputs or {}
    out: list[tuple[ExtraFile, Path | None]] = []
    for f in recipe.files:
        if f.source is None:
            out.append((f, None))
            continue
        src = inputs.get(f.source)
        if src is None:
            if f.optional:
                continue
            hint = INPUT_HINTS.get(f.source, "")
            raise ImageError(f"image {recipe.reference} needs the build input {f.source!r} for {f.path}{hint} "
                             f"(pass inputs={{{f.source!r}: Path(...)}}, or --{f.source} PATH on the command line)")
        src = Path(src)
        if not src.is_file():
            raise ImageError(f"image {recipe.reference}: input {f.source!r} for {f.path} is not a file: {src}")
        out.append((f, src))
    return out


def tree_files(recipe: ImageRecipe, inputs: Mapping[str, Path] | None = None) -> list[tuple[ExtraFile, Path | None]]:
    """Every file and symlink of the recipe's :class:`ExtraTree` inputs as extra files (sorted by image path)."""
    inputs = inputs or {}
    out: list[tuple[ExtraFile, Path | None]] = []
    for tree in recipe.trees:
        src = inputs.get(tree.source)
        if src is None or not Path(src).is_dir():
            raise ImageError(f"image {recipe.reference} needs the directory input {tree.source!r} for {tree.path}")
        base = Path(src)
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            dest = f"{tree.path}/{rel}"
            if path.is_symlink():
                out.append((ExtraFile(dest, mode=0o777, link=os.readlink(path)), None))
            elif path.is_file():
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                out.append((ExtraFile(dest, mode=mode, source=tree.source), path))
    return sorted(out, key=lambda fs: fs[0].path)


def trees_digest(recipe: ImageRecipe, inputs: Mapping[str, Path] | None = None) -> str:
    """sha256 over every tree member's image path, mode and content (or link target)."""
    h = hashlib.sha256()
    for f, src in tree_files(recipe, inputs):
        h.update(f"{f.path}\0{f.mode}\0{f.link or ''}\0".encode())
        if src is not None:
            h.update(_sha256_file(src).encode())
    return h.hexdigest()


def recipe_digest(recipe: ImageRecipe, inputs: Mapping[str, Path] | None = None, *,
                  mirrors: Sequence[str] | None = None, memo: Path | None = None) -> str:
    """Hex sha256 over everything that decides the image: recipe, apt sources, extra files' content."""
    files = []
    for f, src in resolve_files(recipe, inputs):
        if f.link is not None:
            what = {"link": f.link}
        elif f.content is not None:
            what = {"sha256": hashlib.sha256(f.content).hexdigest()}
        else:
            assert src is not None
            what = {"sha256": _file_digest(src, memo)}
        files.append({"path": f.path, "mode": f.mode, "uid": f.uid, "gid": f.gid, **what})
    material = {
        "format": FORMAT_VERSION,
        "epoch": EPOCH,
        "repository": recipe.repository,
        "tag": recipe.tag,
        "packages": list(recipe.packages),
        "suite": SUITE if recipe.packages else None,
        "mirrors": list(mirrors if mirrors is not None else apt_mirrors()) if recipe.packages else [],
        "dpkg_excludes": list(DPKG_EXCLUDES) if recipe.packages else [],
        "keep": list(recipe.keep),
        "drop": list(recipe.drop),
        "hooks": list(recipe.hooks),
        "files": files,
        "config": image_config_fields(recipe),
    }
    if recipe.trees:  # only then: the digests (and cached images) of recipes without trees stay as they were
        material["trees"] = {"paths": [t.path for t in recipe.trees], "sha256": trees_digest(recipe, inputs)}
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def image_config_fields(recipe: ImageRecipe) -> dict[str, Any]:
    """The ``config`` object of the image config (Docker/OCI), omitting empty fields."""
    cfg: dict[str, Any] = {"User": recipe.user_spec, "WorkingDir": recipe.workdir}
    if recipe.env:
        cfg["Env"] = [f"{k}={v}" for k, v in recipe.env]
    if recipe.entrypoint:
        cfg["Entrypoint"] = list(recipe.entrypoint)
    if recipe.cmd:
        cfg["Cmd"] = list(recipe.cmd)
    if recipe.exposed_ports:
        cfg["ExposedPorts"] = {p: {} for p in recipe.exposed_ports}
    if recipe.labels:
        cfg["Labels"] = dict(recipe.labels)
    return cfg


# --- layer and archive writers --------------------------------------------------------------------

def _norm(name: str) -> str:
    """Archive member name -> path without leading ``./`` or ``/`` (``""`` for the root)."""
    while name.startswith("./"):
        name = name[2:]
    return "" if name in (".", "") else str(PurePosixPath("/" + name)).lstrip("/")


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pat) for pat in patterns)


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _clean(info: tarfile.TarInfo, name: str, epoch: int) -> tarfile.TarInfo:
    out = tarfile.TarInfo(name)
    out.type = info.type
    out.mode = info.mode
    out.uid, out.gid = info.uid, info.gid
    out.uname = out.gname = ""
    out.mtime = min(int(info.mtime), epoch)
    out.linkname = info.linkname
    out.size = info.size if info.isreg() else 0
    # Keep only extended attributes (file capabilities), in a stable order.
    out.pax_headers = {k: info.pax_headers[k] for k in sorted(info.pax_headers) if k.startswith("SCHILY.xattr.")}
    return out


def write_layer(dest: Path, rootfs: Path | None = None, files: Sequence[tuple[ExtraFile, Path | None]] = (), *,
                keep: Sequence[str] = (), drop: Sequence[str] = DEFAULT_DROP, epoch: int = EPOCH) -> str:
    """Write one layer tar from a rootfs tar (optional) plus extra files; return its diff_id.

    Deterministic: members sorted by path, owner names dropped, mtimes clamped to ``epoch``,
    device nodes and FIFOs left out, hard links re-pointed at the first member of their group.
    """
    members: dict[str, tarfile.TarInfo] = {}
    src_of: dict[str, tarfile.TarInfo] = {}  # member name -> original member holding its data
    with contextlib.ExitStack() as stack:
        src_tar = stack.enter_context(tarfile.open(rootfs)) if rootfs is not None else None
        if src_tar is not None:
            originals = {}
            for m in src_tar.getmembers():
                name = _norm(m.name)
                if name:
                    originals[name] = m
            wanted = [n for n, m in originals.items()
                      if not (m.ischr() or m.isblk() or m.isfifo()) and not _matches(n, drop)]
            if keep:
                picked = {n for n in wanted if _matches(n, keep)}
                picked |= {a for n in picked for a in _ancestors(n) if a in originals}
                wanted = [n for n in wanted if n in picked]
            for n in wanted:
                m = originals[n]
                if m.islnk():
                    data = m
                    for _ in range(len(originals)):
                        if not data.islnk():
                            break
                        target = _norm(data.linkname)
                        if target not in originals:
                            raise ImageError(f"{rootfs}: hard link {n} -> {target} points outside the archive")
                        data = originals[target]
                    src_of[n] = data
                    members[n] = m
                elif m.isreg():
                    src_of[n] = m
                    members[n] = m
                else:
                    members[n] = m
        # Extra files replace whatever the packages put there.
        extra: dict[str, tuple[ExtraFile, Path | None]] = {}
        for f, src in files:
            name = f.path.lstrip("/")
            for a in _ancestors(name):
                if a in members and members[a].issym():
                    raise ImageError(f"extra file {f.path}: {a} is a symlink in the image; use the real path")
            members.pop(name, None)
            src_of.pop(name, None)
            extra[name] = (f, src)
        names = set(members) | set(extra)
        for n in list(names):
            for a in _ancestors(n):
                if a not in names:
                    d = tarfile.TarInfo(a)
                    d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, epoch
                    members[a] = d
                    names.add(a)
        # Hard link groups: the first name (sorted) carries the data, the others link to it.
        groups: dict[int, list[str]] = {}
        for n, m in src_of.items():
            groups.setdefault(id(m), []).append(n)
        holder = {n: min(g) for g in groups.values() for n in g}

        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, mode="w", format=tarfile.PAX_FORMAT) as out:
            for n in sorted(names):
                if n in extra:
                    f, src = extra[n]
                    ti = tarfile.TarInfo(n)
                    ti.mode, ti.uid, ti.gid, ti.mtime = f.mode, f.uid, f.gid, epoch
                    if f.link is not None:
                        ti.type, ti.linkname = tarfile.SYMTYPE, f.link
                        out.addfile(ti)
                    elif f.content is not None:
                        ti.size = len(f.content)
                        out.addfile(ti, io.BytesIO(f.content))
                    else:
                        assert src is not None
                        ti.size = src.stat().st_size
                        with src.open("rb") as fh:
                            out.addfile(ti, fh)
                    continue
                m = members[n]
                if n in src_of:
                    data = src_of[n]  # a hard link's mode and owner are its inode's: the data member's
                    ti = _clean(data, n, epoch)
                    if holder[n] != n:
                        ti.type, ti.size, ti.linkname = tarfile.LNKTYPE, 0, holder[n]
                        out.addfile(ti)
                    else:
                        ti.type, ti.size, ti.linkname = tarfile.REGTYPE, data.size, ""
                        assert src_tar is not None
                        out.addfile(ti, src_tar.extractfile(data))
                else:
                    out.addfile(_clean(m, n, epoch))
    return "sha256:" + _sha256_file(dest)


def image_config(recipe: ImageRecipe, diff_ids: Sequence[str], epoch: int = EPOCH) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    what = (f"localcluster.images: debian {SUITE} packages {' '.join(recipe.packages)}" if recipe.packages
            else "localcluster.images: files only")
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": image_config_fields(recipe),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": what}] * len(diff_ids),
    }


def write_docker_archive(dest: Path, layers: Sequence[Path], config: Mapping[str, Any],
                         repo_tags: Sequence[str], epoch: int = EPOCH) -> dict[str, Any]:
    """Write a docker-archive (``docker save`` layout) and return its digests.

    ``config["rootfs"]["diff_ids"]`` must be the sha256 of each layer file, in order (checked).
    The outer archive has fixed mtimes and owners, so the same layers and config give the same bytes.
    """
    diff_ids = ["sha256:" + _sha256_file(p) for p in layers]
    if list(config.get("rootfs", {}).get("diff_ids", [])) != diff_ids:
        raise ImageError(f"image config diff_ids {config.get('rootfs')} do not match the layers {diff_ids}")
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    layer_names = [f"{d.removeprefix('sha256:')}/layer.tar" for d in diff_ids]
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": list(repo_tags), "Layers": layer_names}]
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()

    def info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = epoch, 0, 0, "", ""
        if directory:
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        else:
            ti.mode, ti.size = 0o644, size
        return ti

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as out:
        seen: set[str] = set()
        for path, name in zip(layers, layer_names, strict=True):
            if name in seen:  # the same layer twice: one blob serves both
                continue
            seen.add(name)
            out.addfile(info(name.split("/")[0] + "/", directory=True))
            with path.open("rb") as fh:
                out.addfile(info(name, path.stat().st_size), fh)
        out.addfile(info(f"{config_hex}.json", len(config_bytes)), io.BytesIO(config_bytes))
        out.addfile(info("manifest.json", len(manifest_bytes)), io.BytesIO(manifest_bytes))
    return {"config_digest": f"sha256:{config_hex}", "diff_ids": diff_ids, "repo_tags": list(repo_tags)}


def read_archive(tar: Path) -> dict[str, Any]:
    """manifest.json, the config and its digest from a docker-archive (single image)."""
    with tarfile.open(tar) as t:
        manifest = json.load(_member(t, "manifest.json"))
        if len(manifest) != 1:
            raise ImageError(f"{tar}: expected one image in manifest.json, found {len(manifest)}")
        config_bytes = _member(t, manifest[0]["Config"]).read()
    return {"manifest": manifest[0], "config": json.loads(config_bytes),
            "config_digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest()}


def _member(t: tarfile.TarFile, name: str) -> IO[bytes]:
    fh = t.extractfile(name)
    if fh is None:
        raise ImageError(f"docker-archive member {name} is not a regular file")
    return fh


# --- building -------------------------------------------------------------------------------------

def _run(cmd: Sequence[str], log: Path, env: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    line = " ".join(shlex.quote(c) for c in cmd)
    with log.open("a") as fh:
        fh.write(f"\n$ {line}\n")
        fh.flush()
        try:
            proc = subprocess.run(list(cmd), env=dict(env) if env is not None else None, stdout=fh,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1
            fh.write(f"\n(timed out after {timeout} s)\n")
        except FileNotFoundError as exc:
            rc = 127
            fh.write(f"\n{exc}\n")
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ImageError(f"image step failed (exit {rc}): {line}\nfull log: {log}\n--- last lines ---\n{tail}")


def _extract_hook(recipe: ImageRecipe, pkglist: Path) -> str:
    lines = [
        "#!/bin/sh", "set -eu",
        "# written by localcluster.images; mmdebstrap runs it after unpacking, with $1 = the rootfs",
        'for deb in "$1"/var/cache/apt/archives/*.deb; do',
        "  dpkg-deb --show --showformat='${Package}\\t${Version}\\n' \"$deb\"",
        f"done > {shlex.quote(str(pkglist))}",
        "# the extract variant leaves dpkg's database empty: record what was unpacked, for tools reading it",
        'if [ -d "$1/var/lib/dpkg" ]; then',
        '  for deb in "$1"/var/cache/apt/archives/*.deb; do',
        "    printf '\\n'; dpkg-deb --field \"$deb\" | sed '1a Status: install ok unpacked'",
        '  done >> "$1/var/lib/dpkg/status"',
        "fi",
        *recipe.hooks,
    ]
    return "\n".join(lines) + "\n"


def mmdebstrap_command(recipe: ImageRecipe, out_tar: Path, hook: Path, mirrors: Sequence[str]) -> list[str]:
    return [
        "mmdebstrap", "--mode=root", "--variant=extract", "--format=tar",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        f"--include={','.join(recipe.packages)}",
        *(f"--dpkgopt={o}" for o in DPKG_EXCLUDES),
        f"--extract-hook={hook}",
        SUITE, str(out_tar), *mirrors,
    ]


def _describe(f: ExtraFile, src: Path | None, memo: Path) -> str:
    if f.link is not None:
        return f"symlink -> {f.link}"
    if f.content is not None:
        return "sha256:" + hashlib.sha256(f.content).hexdigest()
    assert src is not None
    return f"sha256:{_file_digest(src, memo)} from {src}"


def image_path(recipe: ImageRecipe, cache: Path | None = None, inputs: Mapping[str, Path] | None = None) -> Path:
    """Where the image's docker-archive lives (built or not)."""
    cache = cache or cache_dir()
    digest = recipe_digest(recipe, inputs, memo=cache / "images" / "file-digests.json")
    return cache / "images" / f"{recipe.slug}-{recipe.tag}-{digest[:12]}.tar"


def stamp_path(tar: Path) -> Path:
    return tar.with_suffix(".json")


def is_built(tar: Path) -> bool:
    try:
        stamp = json.loads(stamp_path(tar).read_text())
        return bool(tar.stat().st_size == stamp["size_bytes"])
    except (OSError, ValueError, KeyError):
        return False


def build_image(recipe: ImageRecipe, cache: Path | None = None, inputs: Mapping[str, Path] | None = None, *,
                log: Callable[[str], None] = print, force: bool = False) -> Path:
    """Build ``recipe`` into ``<cache>/images/<name>-<tag>-<digest12>.tar`` (a docker-archive), if missing.

    ``inputs`` maps the recipe's input names to files (``{"coredns": Path(".../coredns")}``).
    Returns the tar's path; its ``.json`` stamp says how it was built.
    """
    cache = cache or cache_dir()
    images = cache / "images"
    mirrors = apt_mirrors()
    digest = recipe_digest(recipe, inputs, mirrors=mirrors, memo=images / "file-digests.json")
    tar = images / f"{recipe.slug}-{recipe.tag}-{digest[:12]}.tar"
    if not force and is_built(tar):
        return tar
    files = resolve_files(recipe, inputs)
    logfile = cache / "logs" / f"image-{recipe.slug}-{recipe.tag}.log"
    logfile.unlink(missing_ok=True)
    log(f"  image {recipe.reference}: building ({', '.join(recipe.packages) or 'files only'}) ...")
    t0 = time.monotonic()
    images.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{recipe.slug}-", dir=images))
    try:
        rootfs: Path | None = None
        packages: dict[str, str] = {}
        debootstrap_s = 0.0
        if recipe.packages:
            if os.geteuid() != 0:
                raise ImageError(f"image {recipe.reference}: building from Debian packages runs "
                                 "mmdebstrap --mode=root and needs root")
            if shutil.which("mmdebstrap") is None:
                raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)")
            rootfs = work / "rootfs.tar"
            pkglist = work / "packages.tsv"
            hook = work / "extract-hook.sh"
            hook.write_text(_extract_hook(recipe, pkglist))
            hook.chmod(0o755)
            env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
            _run(mmdebstrap_command(recipe, rootfs, hook, mirrors), logfile, env=env, timeout=1800)
            debootstrap_s = time.monotonic() - t0
            for line in pkglist.read_text().splitlines():
                name, _, version = line.partition("\t")
                packages[name] = version
        layer = work / "layer.tar"
        diff_id = write_layer(layer, rootfs, [*files, *tree_files(recipe, inputs)], keep=recipe.keep,
                              drop=recipe.drop)
        if rootfs is not None:
            rootfs.unlink()
        tmp_tar = work / "image.tar"
        info = write_docker_archive(tmp_tar, [layer], image_config(recipe, [diff_id]), [recipe.reference])
        size = tmp_tar.stat().st_size
        stamp = {
            "reference": recipe.reference,
            "key": digest,
            "config_digest": info["config_digest"],
            "diff_ids": info["diff_ids"],
            "size_bytes": size,
            "layer_size_bytes": layer.stat().st_size,
            "build_seconds": round(time.monotonic() - t0, 1),
            "mmdebstrap_seconds": round(debootstrap_s, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "suite": SUITE if recipe.packages else None,
            "mirrors": list(mirrors) if recipe.packages else [],
            "packages": packages,
            "files": {f.path: _describe(f, src, images / "file-digests.json") for f, src in files},
            **({"trees": {t.path: f"{len(tree_files(replace(recipe, trees=(t,)), inputs))} files from "
                                  f"{(inputs or {}).get(t.source)}" for t in recipe.trees}} if recipe.trees else {}),
            "config": image_config_fields(recipe),
        }
        tmp_tar.replace(tar)
        stamp_tmp = work / "stamp.json"
        stamp_tmp.write_text(json.dumps(stamp, indent=2) + "\n")
        stamp_tmp.replace(stamp_path(tar))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"  image {recipe.reference}: {size / 1e6:.1f} MB in {stamp['build_seconds']:.0f}s -> {tar}")
    return tar


def build_images(names: Iterable[str] | None = None, cache: Path | None = None,
                 inputs: Mapping[str, Path] | None = None, *, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build several images (default: all of :data:`RECIPES`); ``{short name: tar}``.

    ``inputs`` defaults to :func:`default_inputs` (the CoreDNS binary in the cache); an ``agnhost``
    input switches the agnhost recipe to :func:`with_agnhost_binary`.
    """
    cache = cache or cache_dir()
    merged = {**default_inputs(cache), **(inputs or {})}
    out: dict[str, Path] = {}
    for name in names or list(RECIPES):
        recipe = find_recipe(name)
        if recipe is AGNHOST and "agnhost" in merged:
            recipe = with_agnhost_binary(recipe)
        out[name] = build_image(recipe, cache, merged, log=log)
    return out


def build_all_images(cache: Path | None = None, inputs: Mapping[str, Path] | None = None, *,
                     log: Callable[[str], None] = print) -> dict[str, Path]:
    """Every image a real node needs (:data:`RECIPES`), built if missing: ``{short name: tar}``."""
    return build_images(None, cache, inputs, log=log)


# --- registry -------------------------------------------------------------------------------------

def _skopeo(run_prefix: Sequence[str], *args: str) -> list[str]:
    # --insecure-policy: the source is an archive built on this machine, there is no signature to check.
    return [*run_prefix, "skopeo", "--insecure-policy", *args]


def registry_manifest(reference: str, run_prefix: Sequence[str] = (),
                      timeout: float = 30) -> tuple[str, dict[str, Any]] | None:
    """(manifest digest, manifest) of ``reference`` in a plain-HTTP registry, or None if absent/unreachable."""
    proc = subprocess.run(_skopeo(run_prefix, "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"),
                          capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        return None
    try:
        manifest = json.loads(proc.stdout)
    except ValueError:
        return None
    return "sha256:" + hashlib.sha256(proc.stdout).hexdigest(), manifest


def push_image(tar: Path, reference: str, run_prefix: Sequence[str] = (), *, cache: Path | None = None,
               log: Callable[[str], None] = print, timeout: float = 600) -> PushResult:
    """Push a docker-archive to ``reference`` (``host:port/repo:tag``, plain HTTP) with skopeo.

    ``run_prefix`` is prepended to every command (``["nsenter", "--net=/run/netns/X"]`` when the
    registry listens only inside a network namespace). Skipped when the registry already holds this
    image: same config digest (the config names every layer's diff_id, so it identifies the
    content; the manifest digest itself depends on how skopeo compressed the layers).
    """
    t0 = time.monotonic()
    config_digest = read_archive(tar)["config_digest"]
    have = registry_manifest(reference, run_prefix)
    if have is not None and have[1].get("config", {}).get("digest") == config_digest:
        return PushResult(reference, have[0], config_digest, False, round(time.monotonic() - t0, 2))
    cache = cache or cache_dir()
    logfile = cache / "logs" / f"push-{re.sub(r'[^A-Za-z0-9._-]+', '_', reference)}.log"
    logfile.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="hsdns-push-") as tmp:
        digestfile = Path(tmp) / "digest"
        _run(_skopeo(run_prefix, "copy", "--dest-tls-verify=false", "--digestfile", str(digestfile),
                     f"docker-archive:{tar}", f"docker://{reference}"), logfile, timeout=timeout)
        manifest_digest = digestfile.read_text().strip()
    seconds = round(time.monotonic() - t0, 2)
    log(f"  pushed {reference} ({manifest_digest[:19]}) in {seconds:.1f}s")
    return PushResult(reference, manifest_digest, config_digest, True, seconds)


def push_all(images: Mapping[str, Path], registry: str, run_prefix: Sequence[str] = (), *,
             cache: Path | None = None, log: Callable[[str], None] = print) -> list[PushResult]:
    """Push every docker-archive in ``images`` to ``registry`` (``host:port``) under its own
    ``repository:tag`` (the archive's RepoTags), e.g. ``<registry>/pause:3.10``."""
    results = []
    for name, tar in images.items():
        tags = read_archive(tar)["manifest"].get("RepoTags") or [find_recipe(name).reference]
        results.append(push_image(tar, f"{registry.rstrip('/')}/{tags[0]}", run_prefix, cache=cache, log=log))
    return results


REGISTRY_BINARY = "/usr/bin/docker-registry"


def registry_config(storage_dir: Path | str, listen_addr: str) -> str:
    """config.yml for Debian's ``docker-registry`` (distribution 2.8): ``docker-registry serve <file>``.

    Filesystem storage in ``storage_dir``, plain HTTP on ``listen_addr`` (``127.0.0.1:5000``), no
    auth, deletes allowed, no proxy/notifications/redis, no storage health check, no debug server.
    distribution's logger (logrus) writes to stderr; redirect it where the logs should go.
    """
    if not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}", listen_addr):
        raise ValueError(f"listen address must be HOST:PORT, got {listen_addr!r}")
    storage = str(Path(storage_dir).resolve())
    # A fixed secret (only signs upload state between requests to this one instance) avoids the
    # "generated random secret" warning and keeps restarts during an upload harmless.
    secret = hashlib.sha256(f"hsdns-registry|{storage}".encode()).hexdigest()[:32]
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(storage)}",
        "  delete:",
        "    enabled: true",
        "  cache:",
        "    blobdescriptor: inmemory",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "  redirect:",
        "    disable: true",
        "http:",
        f"  addr: {json.dumps(listen_addr)}",
        f"  secret: {secret}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
        "health:",
        "  storagedriver:",
        "    enabled: false",
        "",
    ])


def registry_command(config_file: Path) -> list[str]:
    """argv that serves a registry from a :func:`registry_config` file."""
    return [REGISTRY_BINARY, "serve", str(config_file)]


# --- upstream e2e images (issue 8: the outside check with `[sig-network] DNS`) -------------------
#
# Stand-ins for the images k8s.io/kubernetes/test/utils/image/manifest.go (v1.34.4) names, pushed
# under UPSTREAM_E2E_PREFIX/<upstream registry path>, so one KUBE_TEST_REPO_LIST pointing every
# registry field at <registry>/UPSTREAM_E2E_PREFIX/<its default> resolves each image to its stand-in.
# Built only by scripts/upstream-dns-e2e.sh, never by `up` (not in RECIPES).

UPSTREAM_E2E_PREFIX = "upstream-e2e"
# manifest.go's initRegistry: the KUBE_TEST_REPO_LIST field names and their defaults.
UPSTREAM_REGISTRIES: dict[str, str] = {
    "gcAuthenticatedRegistry": "gcr.io/authenticated-image-pulling",
    "promoterE2eRegistry": "registry.k8s.io/e2e-test-images",
    "buildImageRegistry": "registry.k8s.io/build-image",
    "invalidRegistry": "invalid.registry.k8s.io/invalid",
    "gcEtcdRegistry": "registry.k8s.io",
    "gcRegistry": "registry.k8s.io",
    "sigStorageRegistry": "registry.k8s.io/sig-storage",
    "privateRegistry": "gcr.io/k8s-authenticated-test",
    "dockerLibraryRegistry": "docker.io/library",
    "cloudProviderGcpRegistry": "registry.k8s.io/cloud-provider-gcp",
}


def _upstream(field: str, name: str) -> str:
    return f"{UPSTREAM_E2E_PREFIX}/{UPSTREAM_REGISTRIES[field]}/{name}"


def upstream_repo_list(registry: str) -> dict[str, str]:
    """KUBE_TEST_REPO_LIST content: every registry field -> ``<registry>/<prefix>/<its default>``.
    Fields without a stand-in (invalid, authenticated, private) resolve to paths the local registry
    does not hold, so the tests that expect a failed pull still see one."""
    return {k: f"{registry.rstrip('/')}/{UPSTREAM_E2E_PREFIX}/{v}" for k, v in UPSTREAM_REGISTRIES.items()}


UPSTREAM_AGNHOST = ImageRecipe(
    # manifest.go: configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.56"}. Upstream is
    # Alpine + bind-tools + CoreDNS at /coredns + the agnhost binary (entrypoint, CMD pause); here
    # Debian's shell, dig/host/nslookup, getent, hostname, bash, the agnhost built from the same
    # release, and a CoreDNS with the `hosts` plugin the DNS tests' Corefile uses.
    _upstream("promoterE2eRegistry", "agnhost"), "2.56",
    packages=(*SHELL_PACKAGES, "bash", "bind9-dnsutils", "hostname"),
    hooks=(LDCONFIG,),
    files=(*_etc([ROOT, ("user-defined-in-image", 1000, 1000, "/home/user-defined-in-image"), NOBODY],
                 [("root", 0), ("user-defined-in-image", 1000), ("group-defined-in-image", 50000),
                  ("nogroup", 65534)]),
           ExtraFile("/agnhost", mode=0o755, source="agnhost"),
           ExtraFile("/agnhost-2", link="agnhost"),
           ExtraFile("/coredns", mode=0o755, source="coredns-e2e")),
    entrypoint=("/agnhost",),
    cmd=("pause",),
    exposed_ports=("80/tcp", "8080/tcp", "8081/tcp", "9376/tcp", "5000/tcp"),
)
UPSTREAM_JESSIE_DNSUTILS = ImageRecipe(
    # configs[JessieDnsutils] = Config{list.PromoterE2eRegistry, "jessie-dnsutils", "1.7"}: upstream
    # is Debian jessie + dnsutils (glibc's resolver, where agnhost has musl's); here Debian bookworm.
    _upstream("promoterE2eRegistry", "jessie-dnsutils"), "1.7",
    packages=(*SHELL_PACKAGES, "bash", "bind9-dnsutils", "hostname"),
    hooks=(LDCONFIG,),
    files=_etc([ROOT, NOBODY], [("root", 0), ("nogroup", 65534)]),
    cmd=("/bin/bash",),
)
UPSTREAM_BUSYBOX = ImageRecipe(
    # configs[BusyBox] = Config{list.PromoterE2eRegistry, "busybox", "1.37.0-1"}: Debian's static
    # busybox with a symlink per applet (made by the hook from `busybox --list`).
    _upstream("promoterE2eRegistry", "busybox"), "1.37.0-1",
    packages=("busybox-static",),
    hooks=('for a in $("$1/usr/bin/busybox" --list); do [ -e "$1/usr/bin/$a" ] || ln -s busybox "$1/usr/bin/$a"; '
           "done",),
    files=_etc([ROOT, NOBODY], [("root", 0), ("nogroup", 65534)]),
    cmd=("sh",),
)
UPSTREAM_E2E_RECIPES: dict[str, ImageRecipe] = {
    "agnhost": UPSTREAM_AGNHOST,
    "jessie-dnsutils": UPSTREAM_JESSIE_DNSUTILS,
    "busybox": UPSTREAM_BUSYBOX,
}
INPUT_HINTS["agnhost"] = ": the agnhost binary `localcluster.build.build_e2e()` makes"
INPUT_HINTS["coredns-e2e"] = ": the CoreDNS (with `hosts`) `localcluster.build.build_e2e()` makes"


def build_upstream_e2e_images(inputs: Mapping[str, Path], cache: Path | None = None, *,
                              log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build the :data:`UPSTREAM_E2E_RECIPES` (if missing); ``inputs`` needs ``agnhost`` and
    ``coredns-e2e``. Returns ``{short name: docker-archive}``, ready for :func:`push_all`."""
    return {name: build_image(recipe, cache, inputs, log=log) for name, recipe in UPSTREAM_E2E_RECIPES.items()}


# --- CLI ------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.images", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build images (default: all) and print each tar, size and build time")
    b.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(RECIPES)} (or repository[:tag])")
    b.add_argument("--coredns", type=Path, help="CoreDNS binary (default: the one localcluster.build made)")
    b.add_argument("--agnhost", type=Path, help="an agnhost binary to put at /agnhost (entrypoint)")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    p = sub.add_parser("push", help="build if needed and push images to a plain-HTTP registry")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--registry", required=True, help="HOST:PORT")
    p.add_argument("--netns", help="run skopeo inside this named network namespace (ip netns)")
    p.add_argument("--coredns", type=Path)
    p.add_argument("--agnhost", type=Path)
    r = sub.add_parser("registry-config", help="print a docker-registry config.yml")
    r.add_argument("--storage", type=Path, required=True)
    r.add_argument("--listen", default="127.0.0.1:5000")
    args = parser.parse_args(argv)

    if args.command == "registry-config":
        print(registry_config(args.storage, args.listen), end="")
        return 0
    inputs = {k: v for k, v in (("coredns", args.coredns), ("agnhost", args.agnhost)) if v is not None}
    names = args.names or list(RECIPES)
    cache = cache_dir()
    failed = 0
    for name in names:
        try:
            if args.command == "build" and args.force:
                recipe = find_recipe(name)
                merged = {**default_inputs(cache), **inputs}
                if recipe is AGNHOST and "agnhost" in merged:
                    recipe = with_agnhost_binary(recipe)
                tar = build_image(recipe, cache, merged, force=True)
            else:
                tar = build_images([name], cache, inputs)[name]
            stamp = json.loads(stamp_path(tar).read_text())
            print(f"{find_recipe(name).reference}\t{tar}\t{stamp['size_bytes'] / 1e6:.1f} MB\t"
                  f"built in {stamp['build_seconds']:.1f}s")
            if args.command == "push":
                prefix = ["ip", "netns", "exec", args.netns] if args.netns else []
                res = push_image(tar, image_reference(find_recipe(name), args.registry), prefix, cache=cache)
                print(f"{res.reference}\t{res.manifest_digest}\t{'pushed' if res.pushed else 'already there'}")
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

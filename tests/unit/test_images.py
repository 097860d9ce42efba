"""localcluster.images without a cluster, a network or mmdebstrap: the layer and docker-archive
writers, the cache key, the files-only build path, push skipping and the registry config."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from localcluster import images
from localcluster.images import EPOCH, ExtraFile, ImageError, ImageRecipe

FUTURE = EPOCH + 10_000_000


def _add(t: tarfile.TarFile, name: str, *, data: bytes | None = None, kind: bytes = tarfile.REGTYPE,
         mode: int = 0o644, link: str = "", mtime: int = FUTURE, uid: int = 0) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname, ti.uid = kind, mode, mtime, link, uid
    ti.uname = ti.gname = "builder"
    if kind == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = 1, 3
    if data is not None:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)


def fake_rootfs(path: Path) -> Path:
    """What mmdebstrap writes, in miniature: ./-prefixed names, a device node, apt state, links."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "./", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./bin", kind=tarfile.SYMTYPE, link="usr/bin")
        _add(t, "./dev/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./dev/null", kind=tarfile.CHRTYPE, mode=0o666)
        _add(t, "./etc/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./etc/apt/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./etc/apt/sources.list", data=b"deb http://deb.debian.org/debian bookworm main\n")
        _add(t, "./etc/hostname", data=b"buildhost\n")
        _add(t, "./etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n")
        _add(t, "./tmp/", kind=tarfile.DIRTYPE, mode=0o1777)
        _add(t, "./usr/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./usr/bin/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(t, "./usr/bin/zz-tool", data=b"\x7fELF tool", mode=0o755, mtime=EPOCH - 100)
        # a hard link sorting before its target: the writer must carry the data on the first name
        _add(t, "./usr/bin/aa-alias", kind=tarfile.LNKTYPE, link="./usr/bin/zz-tool")
        _add(t, "./usr/bin/sh", kind=tarfile.SYMTYPE, link="dash")
        _add(t, "./usr/share/doc/tool/copyright", data=b"GPL\n")
    return path


def members(tar: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tar) as t:
        return {m.name: m for m in t.getmembers()}


def read(tar: Path, name: str) -> bytes:
    with tarfile.open(tar) as t:
        fh = t.extractfile(name)
        assert fh is not None
        return fh.read()


RECIPE = ImageRecipe(
    "hsdns/test", "1",
    packages=("dash",),
    files=(ExtraFile("/etc/passwd", content=b"root:x:0:0::/:/bin/sh\napp:x:1001:0::/tmp:/bin/sh\n"),
           ExtraFile("/opt/app/bin/tool", mode=0o755, source="tool")),
    entrypoint=("/usr/bin/sh", "-c"),
    cmd=("sleep 1",),
    user=1001,
    env=(("PATH", "/usr/bin"), ("HOME", "/tmp")),
    workdir="/tmp",
)


# --- layer ----------------------------------------------------------------------------------------

def test_layer_filters_sorts_and_normalises(tmp_path: Path) -> None:
    rootfs = fake_rootfs(tmp_path / "rootfs.tar")
    tool = tmp_path / "tool"
    tool.write_bytes(b"static binary")
    files = images.resolve_files(RECIPE, {"tool": tool})
    layer = tmp_path / "layer.tar"
    diff_id = images.write_layer(layer, rootfs, files)

    assert diff_id == "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()
    m = members(layer)
    names = list(m)
    assert names == sorted(names)
    assert "" not in names and not any(n.startswith(("./", "/")) for n in names)
    # dropped: device nodes, apt state, the build host's hostname
    assert "dev" in m and "dev/null" not in m
    assert not any(n.startswith("etc/apt") for n in names)
    assert "etc/hostname" not in m
    # kept: symlinks, /tmp's sticky bit, docs
    assert m["bin"].issym() and m["bin"].linkname == "usr/bin"
    assert m["tmp"].mode == 0o1777
    assert "usr/share/doc/tool/copyright" in m and m["usr/share/doc"].isdir()  # parent dirs made up
    # extra files replace the package's /etc/passwd and get their parents
    assert read(layer, "etc/passwd").startswith(b"root:x:0:0::/:/bin/sh\napp:x:1001")
    assert read(layer, "opt/app/bin/tool") == b"static binary" and m["opt/app/bin/tool"].mode == 0o755
    assert m["opt"].isdir() and m["opt/app"].isdir() and m["opt/app/bin"].isdir()
    # the hard link group: the first name carries the data, the other links to it
    assert m["usr/bin/aa-alias"].isreg() and read(layer, "usr/bin/aa-alias") == b"\x7fELF tool"
    assert m["usr/bin/zz-tool"].islnk() and m["usr/bin/zz-tool"].linkname == "usr/bin/aa-alias"
    assert m["usr/bin/aa-alias"].mode == 0o755
    # mtimes clamped, owner names gone, older mtimes kept
    assert all(x.mtime <= EPOCH for x in m.values())
    assert m["usr/bin/aa-alias"].mtime == EPOCH - 100
    assert all(x.uname == "" and x.gname == "" for x in m.values())


def test_layer_is_deterministic(tmp_path: Path) -> None:
    rootfs = fake_rootfs(tmp_path / "rootfs.tar")
    tool = tmp_path / "tool"
    tool.write_bytes(b"x" * 5000)
    files = images.resolve_files(RECIPE, {"tool": tool})
    a = images.write_layer(tmp_path / "a.tar", rootfs, files)
    tool.touch()  # the input's mtime must not leak into the layer
    b = images.write_layer(tmp_path / "b.tar", rootfs, list(reversed(files)))
    assert a == b and (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_layer_keep_takes_only_listed_paths(tmp_path: Path) -> None:
    rootfs = fake_rootfs(tmp_path / "rootfs.tar")
    layer = tmp_path / "layer.tar"
    images.write_layer(layer, rootfs, keep=["usr/bin/zz-tool"])
    m = members(layer)
    assert sorted(m) == ["usr", "usr/bin", "usr/bin/zz-tool"]
    assert m["usr/bin/zz-tool"].isreg() and read(layer, "usr/bin/zz-tool") == b"\x7fELF tool"


def test_layer_without_rootfs_and_symlinked_parent(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    images.write_layer(layer, None, [(ExtraFile("/coredns", mode=0o755, content=b"bin"), None),
                                     (ExtraFile("/etc/passwd", content=b"x"), None),
                                     (ExtraFile("/sbin/x", link="/coredns"), None)])
    m = members(layer)
    assert sorted(m) == ["coredns", "etc", "etc/passwd", "sbin", "sbin/x"]
    assert m["sbin/x"].issym() and m["sbin/x"].linkname == "/coredns"
    with pytest.raises(ImageError, match="symlink"):
        images.write_layer(tmp_path / "bad.tar", fake_rootfs(tmp_path / "r.tar"),
                           [(ExtraFile("/bin/tool", content=b"x"), None)])


# --- docker-archive -------------------------------------------------------------------------------

def _archive(tmp_path: Path, name: str, recipe: ImageRecipe = RECIPE) -> tuple[Path, dict[str, object]]:
    layer = tmp_path / f"{name}-layer.tar"
    diff_id = images.write_layer(layer, fake_rootfs(tmp_path / f"{name}-rootfs.tar"),
                                 [(ExtraFile("/etc/passwd", content=b"root:x:0:0::/:/bin/sh\n"), None)])
    out = tmp_path / f"{name}.tar"
    info = images.write_docker_archive(out, [layer], images.image_config(recipe, [diff_id]), [recipe.reference])
    return out, info


def test_docker_archive_layout(tmp_path: Path) -> None:
    out, info = _archive(tmp_path, "img")
    with tarfile.open(out) as t:
        m = {x.name: x for x in t.getmembers()}
        manifest = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert len(manifest) == 1
        entry = manifest[0]
        config_bytes = t.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        layer_bytes = t.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["hsdns/test:1"]
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    assert entry["Config"] == f"{config_hex}.json" and info["config_digest"] == f"sha256:{config_hex}"
    layer_hex = hashlib.sha256(layer_bytes).hexdigest()
    assert entry["Layers"] == [f"{layer_hex}/layer.tar"]
    config = json.loads(config_bytes)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]}
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    assert config["config"] == {"User": "1001", "Entrypoint": ["/usr/bin/sh", "-c"], "Cmd": ["sleep 1"],
                                "Env": ["PATH=/usr/bin", "HOME=/tmp"], "WorkingDir": "/tmp"}
    assert len(config["history"]) == 1
    # fixed metadata in the outer archive
    assert all(x.mtime == EPOCH and x.uid == 0 and x.gid == 0 and x.uname == "" for x in m.values())
    assert images.read_archive(out)["config_digest"] == info["config_digest"]


def test_docker_archive_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = _archive(tmp_path / "a", "img")
    b, _ = _archive(tmp_path / "b", "img")
    assert a != b and a.read_bytes() == b.read_bytes()


def test_docker_archive_checks_diff_ids(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    images.write_layer(layer, None, [(ExtraFile("/x", content=b"x"), None)])
    with pytest.raises(ImageError, match="diff_ids"):
        images.write_docker_archive(tmp_path / "o.tar", [layer], images.image_config(RECIPE, ["sha256:" + "0" * 64]),
                                    ["x:1"])


def test_user_and_group_spec() -> None:
    assert images.image_config_fields(images.PAUSE)["User"] == "65535:65535"
    assert images.image_config_fields(images.PYTHON)["User"] == "1001"
    assert images.image_config_fields(images.COREDNS)["Entrypoint"] == ["/coredns"]
    assert images.image_config_fields(images.AGNHOST)["User"] == "0"


# --- cache key ------------------------------------------------------------------------------------

MIRRORS = ("deb http://deb.debian.org/debian bookworm main",)


def _key(recipe: ImageRecipe, tool: Path, mirrors: Sequence[str] = MIRRORS) -> str:
    return images.recipe_digest(recipe, {"tool": tool}, mirrors=mirrors)


def test_cache_key_changes_with_each_input(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_bytes(b"v1")
    base = _key(RECIPE, tool)
    assert base == _key(RECIPE, tool)  # stable
    variants = {
        "packages": _key(replace(RECIPE, packages=("dash", "coreutils")), tool),
        "file content": _key(replace(RECIPE, files=(
            ExtraFile("/etc/passwd", content=b"other\n"), RECIPE.files[1])), tool),
        "file mode": _key(replace(RECIPE, files=(
            RECIPE.files[0], ExtraFile("/opt/app/bin/tool", mode=0o700, source="tool"))), tool),
        "user": _key(replace(RECIPE, user=1002), tool),
        "entrypoint": _key(replace(RECIPE, entrypoint=("/bin/sh",)), tool),
        "env": _key(replace(RECIPE, env=(("PATH", "/bin"),)), tool),
        "tag": _key(replace(RECIPE, tag="2"), tool),
        "hooks": _key(replace(RECIPE, hooks=("true",)), tool),
        "mirrors": _key(RECIPE, tool, (*MIRRORS, "deb http://deb.debian.org/debian bookworm-updates main")),
    }
    for what, key in variants.items():
        assert key != base, what
    assert len(set(variants.values())) == len(variants)
    tool.write_bytes(b"v2")
    assert _key(RECIPE, tool) != base  # the input's content, not its name, is in the key


def test_cache_key_memo_follows_file_changes(tmp_path: Path) -> None:
    memo = tmp_path / "memo.json"
    tool = tmp_path / "tool"
    tool.write_bytes(b"one")
    k1 = images.recipe_digest(RECIPE, {"tool": tool}, mirrors=MIRRORS, memo=memo)
    assert memo.is_file()
    assert images.recipe_digest(RECIPE, {"tool": tool}, mirrors=MIRRORS, memo=memo) == k1
    tool.write_bytes(b"two, longer")
    assert images.recipe_digest(RECIPE, {"tool": tool}, mirrors=MIRRORS, memo=memo) != k1


def test_files_only_recipe_ignores_mirrors_and_optional_inputs(tmp_path: Path) -> None:
    coredns = tmp_path / "coredns"
    coredns.write_bytes(b"coredns")
    inputs = {"coredns": coredns}
    assert (images.recipe_digest(images.COREDNS, inputs, mirrors=MIRRORS)
            == images.recipe_digest(images.COREDNS, inputs, mirrors=()))
    agnhost = tmp_path / "agnhost"
    agnhost.write_bytes(b"agnhost")
    without = images.recipe_digest(images.AGNHOST, {}, mirrors=MIRRORS)
    assert without != images.recipe_digest(images.AGNHOST, {"agnhost": agnhost}, mirrors=MIRRORS)
    with_bin = images.with_agnhost_binary()
    assert images.image_config_fields(with_bin)["Entrypoint"] == ["/agnhost"]
    with pytest.raises(ImageError, match="agnhost"):
        images.recipe_digest(with_bin, {}, mirrors=MIRRORS)
    with pytest.raises(ImageError, match="'coredns'"):
        images.recipe_digest(images.COREDNS, {}, mirrors=MIRRORS)


# --- build (files only: no mmdebstrap) ------------------------------------------------------------

def test_build_files_only_image_and_warm_call(tmp_path: Path) -> None:
    coredns = tmp_path / "coredns"
    coredns.write_bytes(b"\x7fELF coredns")
    cache = tmp_path / "cache"
    logs: list[str] = []
    tar = images.build_image(images.COREDNS, cache, {"coredns": coredns}, log=logs.append)
    assert tar.parent == cache / "images" and tar.name.startswith(f"coredns-{images.COREDNS.tag}-")
    assert len(tar.name.rsplit("-", 1)[1]) == len("0123456789ab.tar")
    stamp = json.loads(images.stamp_path(tar).read_text())
    assert stamp["size_bytes"] == tar.stat().st_size and stamp["packages"] == {}
    assert stamp["config_digest"] == images.read_archive(tar)["config_digest"]
    layer = images.read_archive(tar)["manifest"]["Layers"][0]
    with tarfile.open(tar) as t:
        fh = t.extractfile(layer)
        assert fh is not None
        with tarfile.open(fileobj=io.BytesIO(fh.read())) as inner:
            assert sorted(inner.getnames()) == ["coredns", "etc", "etc/group", "etc/passwd"]
            passwd = inner.extractfile("etc/passwd")
            assert passwd is not None and b"nonroot:x:65532:65532" in passwd.read()
    built = tar.stat().st_mtime_ns
    logs.clear()
    assert images.build_image(images.COREDNS, cache, {"coredns": coredns}, log=logs.append) == tar
    assert logs == [] and tar.stat().st_mtime_ns == built
    coredns.write_bytes(b"\x7fELF coredns v2")
    assert images.build_image(images.COREDNS, cache, {"coredns": coredns}, log=logs.append) != tar


def test_recipes_cover_the_suite_defaults() -> None:
    refs = {r.reference for r in images.RECIPES.values()}
    assert {"pause:3.10", "ubi9/python-311:latest", "e2e-test-images/agnhost:2.53",
            f"coredns:{images.COREDNS.tag}", "hsdns/python-nosh:1", "library/alpine:3.21"} == refs
    assert "python3.11-minimal" not in images.PYTHON_NOSH.packages
    assert images.find_recipe("ubi9/python-311") is images.PYTHON
    assert images.find_recipe("pause:3.10") is images.PAUSE
    with pytest.raises(ImageError):
        images.find_recipe("nope")


# --- push, registry, apt sources ------------------------------------------------------------------

def test_push_skips_when_registry_has_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, info = _archive(tmp_path, "img")
    calls: list[list[str]] = []

    def fake_run(cmd: Sequence[str], log: Path, env: object = None, timeout: object = None) -> None:
        calls.append(list(cmd))
        digestfile = Path(cmd[cmd.index("--digestfile") + 1])
        digestfile.write_text("sha256:" + "a" * 64)

    monkeypatch.setattr(images, "_run", fake_run)
    monkeypatch.setattr(images, "registry_manifest", lambda ref, prefix: None)
    res = images.push_image(out, "10.0.0.1:5000/hsdns/test:1", ["nsenter", "--net=/run/netns/x"],
                            cache=tmp_path, log=lambda s: None)
    assert res.pushed and res.manifest_digest == "sha256:" + "a" * 64 and res.config_digest == info["config_digest"]
    assert calls[0][:3] == ["nsenter", "--net=/run/netns/x", "skopeo"]
    assert f"docker-archive:{out}" in calls[0] and "docker://10.0.0.1:5000/hsdns/test:1" in calls[0]
    assert "--dest-tls-verify=false" in calls[0]

    calls.clear()
    monkeypatch.setattr(images, "registry_manifest",
                        lambda ref, prefix: ("sha256:" + "b" * 64, {"config": {"digest": info["config_digest"]}}))
    res = images.push_image(out, "10.0.0.1:5000/hsdns/test:1", [], cache=tmp_path, log=lambda s: None)
    assert not res.pushed and res.manifest_digest == "sha256:" + "b" * 64 and calls == []


def test_registry_config(tmp_path: Path) -> None:
    cfg = yaml.safe_load(images.registry_config(tmp_path / "storage", "10.255.0.2:5000"))
    assert cfg["version"] == 0.1
    assert cfg["storage"]["filesystem"]["rootdirectory"] == str((tmp_path / "storage").resolve())
    assert cfg["storage"]["delete"]["enabled"] is True
    assert cfg["http"]["addr"] == "10.255.0.2:5000" and "tls" not in cfg["http"] and "debug" not in cfg["http"]
    assert cfg["health"]["storagedriver"]["enabled"] is False
    for absent in ("auth", "proxy", "notifications", "redis"):
        assert absent not in cfg
    assert images.registry_command(tmp_path / "c.yml")[1:] == ["serve", str(tmp_path / "c.yml")]
    with pytest.raises(ValueError):
        images.registry_config(tmp_path, "no-port")


def test_apt_mirrors_from_deb822(tmp_path: Path) -> None:
    src = tmp_path / "debian.sources"
    src.write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n"
        "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n")
    assert images.apt_mirrors(src) == (
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    )
    assert images.apt_mirrors(tmp_path / "missing") == images.DEFAULT_MIRRORS

"""Cluster-free checks of the package layout (pyproject.toml) against the tree, and of the CLI's argument mapping."""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path

from fixtures import paths
from hsdns import cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TOP = ("hsdns", "fixtures", "conformance", "faults", "localcluster", "monitor")


def test_every_package_of_the_tree_is_in_the_wheel() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in TOP for p in (ROOT / top).rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapped == {"fixtures._data.manifests": "manifests", "fixtures._data.expectations": "expectations"}
    for folder in mapped.values():
        assert any((ROOT / folder).glob("*.yaml")), folder


def test_clone_layout_is_found() -> None:
    assert not paths.INSTALLED
    assert paths.CATALOGUE == ROOT / "conformance" / "catalogue.yaml" and paths.CATALOGUE.is_file()
    assert paths.MANIFESTS_DIR == ROOT / "manifests" and paths.EXPECTATIONS_DIR == ROOT / "expectations"
    assert paths.SCHEMA.is_file()
    assert paths.suite_version() == PYPROJECT["project"]["version"]


def test_installed_pytest_ini_mirrors_pyproject() -> None:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "hsdns" / "pytest.ini")
    own = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert ini["pytest"]["addopts"] == own["addopts"]
    assert ini["pytest"]["junit_family"] == own["junit_family"]
    assert ini["pytest"]["minversion"] == own["minversion"]


def test_run_argv_keeps_the_suite_config_and_resolves_suite_paths(tmp_path: Path) -> None:
    argv = cli.pytest_argv(["-k", "HS-DNS-002 or HS-DNS-013", "conformance/test_2_4_2_srv_records.py::test_x"],
                           tmp_path, {"HSDNS_PYTEST_ARGS": "-n 2 -m 'not slow'", "NO_COLOR": "1"})
    assert argv[:2] == ["-c", str(ROOT / "pyproject.toml")]
    assert argv[argv.index("--rootdir") + 1] == str(ROOT)
    assert "--color=no" in argv
    assert str(ROOT / "conformance/test_2_4_2_srv_records.py") + "::test_x" in argv
    assert argv[-4:] == ["-n", "2", "-m", "not slow"]
    assert str(paths.CONFORMANCE_DIR) not in argv  # a test path was named: not the whole suite
    whole = cli.pytest_argv(["-q"], tmp_path, {})
    assert whole[-1] == str(paths.CONFORMANCE_DIR) and "--color=no" not in whole


def test_cli_version_and_unknown_command(capsys: object) -> None:
    assert cli.main(["--version"]) == 0
    assert cli.main(["no-such-command"]) == 4


def test_the_containerfile_copies_every_source_of_the_wheel() -> None:
    from localcluster.suite_image import wheel_sources

    text = (ROOT / "deploy" / "Containerfile").read_text()
    missing = [s for s in wheel_sources(ROOT) if not re.search(rf"^COPY .*\b{re.escape(s)}/? ", text, re.M)]
    assert missing == [], f"deploy/Containerfile does not COPY {missing}"

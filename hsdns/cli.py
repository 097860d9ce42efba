"""The ``hsdns`` command: run the suite like a tool, from any directory, against ``$KUBECONFIG``.

    hsdns run [PYTEST ARGS]      the conformance suite (reports into ./reports unless --reports-dir DIR)
    hsdns list-cases             every catalogue case: id, level, title (no cluster needed)
    hsdns compare A.json B.json  before/after comparison (python -m fixtures.reporting compare)
    hsdns reports ...            render / matrix / validate (python -m fixtures.reporting)
    hsdns fetch-reports ...      copy a report directory out of a pod (exec + tar through the API, as kubectl cp)
    hsdns cleanup ...            remove namespaces runs left behind (python -m fixtures.kube.cleanup)
    hsdns faults ...             seeded-fault runs (python -m faults; needs a clone's local cluster)
    hsdns cluster ...            the local cluster (python -m localcluster)
    hsdns monitor ...            the live DNS monitor (python -m monitor; docs/monitor.md)
    hsdns --version              the suite and catalogue versions

Exit codes of ``hsdns run`` are pytest's: 0 every selected case passed, 1 a conformance failure or a case
error, 2 interrupted, 3 internal error, 4 usage error or the cluster cannot be used, 5 no case selected.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fixtures import paths

USAGE = __doc__.split("\n\n")[1]
#: The configuration of an installed run (a clone uses its pyproject.toml).
INSTALLED_INI = Path(__file__).resolve().with_name("pytest.ini")
PLUGINS = ("fixtures.plugin", "fixtures.reporting.plugin")


def version_text() -> str:
    from fixtures.catalogue import read_catalogue

    cat = read_catalogue(paths.CATALOGUE)
    where = "installed" if paths.INSTALLED else f"clone {paths.ROOT}"
    return (f"hsdns {paths.suite_version()} (headless-dns-conformance; catalogue version {cat.version}, "
            f"{len(cat.entries)} cases; {where})")


def _names_a_test(arg: str) -> bool:
    target = arg.split("::", 1)[0]
    return target == "conformance" or target.startswith(("conformance/", "conformance.")) or "::" in arg \
        or target.endswith(".py")


def pytest_argv(args: Sequence[str], invocation_dir: Path | None = None, environ: os._Environ[str] | dict[str, str]
                | None = None) -> list[str]:
    """The pytest command line of ``hsdns run ARGS`` (without the interpreter).

    * the suite's own configuration, never one found around the invocation directory: the clone's
      pyproject.toml, or (installed) ``hsdns/pytest.ini``;
    * rootdir = the directory holding ``conformance/``, so node ids read ``conformance/test_...py::test_...``
      exactly as in a clone, and the cache in the invocation directory;
    * the suite's plugins by name (``-p``), so a run works with plugin autoloading switched off;
    * test paths given as ``conformance/...`` resolve against the suite wherever the command runs;
      without any test path the whole suite runs;
    * ``HSDNS_PYTEST_ARGS`` (split like a shell line) comes after the arguments (the in-cluster Job sets it).
    """
    cwd = invocation_dir or Path.cwd()
    env = os.environ if environ is None else environ
    argv: list[str] = []
    argv += ["-c", str(INSTALLED_INI if paths.INSTALLED else paths.ROOT / "pyproject.toml")]
    argv += ["--rootdir", str(paths.ROOT), "-o", f"cache_dir={cwd / '.pytest_cache'}"]
    for plugin in PLUGINS:
        argv += ["-p", plugin]
    if env.get("NO_COLOR") and not any(a.startswith("--color") for a in args):
        argv.append("--color=no")
    extra = shlex.split(env.get("HSDNS_PYTEST_ARGS", ""))
    named = False
    for arg in [*args, *extra]:
        if not arg.startswith("-") and _names_a_test(arg):
            named = True
            target, sep, rest = arg.partition("::")
            local = cwd / target
            if not local.exists() and (paths.ROOT / target).exists():
                arg = str(paths.ROOT / target) + sep + rest
        argv.append(arg)
    if not named:
        argv.append(str(paths.CONFORMANCE_DIR))
    return argv


def run(args: Sequence[str]) -> int:
    """Replace this process with ``python -m pytest ...``: signals (Ctrl-C, a Job's SIGTERM) and the exit code
    are pytest's own, and pytest imports (and assert-rewrites) the suite itself."""
    argv = [sys.executable, "-m", "pytest", *pytest_argv(args)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return 3  # not reached


def list_cases(args: Sequence[str]) -> int:
    from fixtures.catalogue import load_catalogue

    if args:
        print("usage: hsdns list-cases", file=sys.stderr)
        return 4
    for case in load_catalogue().values():
        print(f"{case.id}\t{case.level}\t{case.title}")
    return 0


def compare(args: Sequence[str]) -> int:
    from fixtures.reporting.__main__ import main as reporting_main

    return reporting_main(["compare", *args])


def reports(args: Sequence[str]) -> int:
    from fixtures.reporting.__main__ import main as reporting_main

    return reporting_main(list(args))


def fetch_reports(args: Sequence[str]) -> int:
    from hsdns.incluster import main as incluster_main

    return incluster_main(list(args))


def cleanup(args: Sequence[str]) -> int:
    from fixtures.kube.cleanup import main as cleanup_main

    return cleanup_main(list(args))


def faults(args: Sequence[str]) -> int:
    from faults.__main__ import main as faults_main

    return faults_main(list(args))


def cluster(args: Sequence[str]) -> int:
    from localcluster.__main__ import main as cluster_main

    return cluster_main(list(args))


def monitor(args: Sequence[str]) -> int:
    """``python -m monitor``: the live DNS monitor (docs/monitor.md)."""
    from monitor.cli import main as monitor_main

    return int(monitor_main(list(args)))


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "run": run, "list-cases": list_cases, "compare": compare, "reports": reports, "fetch-reports": fetch_reports,
    "cleanup": cleanup, "faults": faults, "cluster": cluster, "monitor": monitor,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(f"usage: hsdns COMMAND [ARGS]\n\n{USAGE}\n\n`hsdns run --help` lists every suite option "
              "(pytest's and the suite's, each with its HSDNS_* environment twin).")
        return 0 if args else 4
    if args[0] in ("-V", "--version", "version"):
        print(version_text())
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"hsdns: unknown command {args[0]!r}; one of: {', '.join(COMMANDS)} (or --version, --help)",
              file=sys.stderr)
        return 4
    try:
        return command(args[1:])
    except KeyboardInterrupt:
        return 2

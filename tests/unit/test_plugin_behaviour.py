"""The plugin's user-facing behaviour, run in a subprocess pytest (no cluster needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pytest(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSDNS_") and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = str(cwd)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


FAKE_FACTS = """
import pytest
from fixtures.kube.facts import ClusterFacts

pytest_plugins = ["fixtures.plugin"]


@pytest.fixture(scope="session")
def cluster_facts() -> ClusterFacts:
    return ClusterFacts(run_id="x", server="s", server_version="v1", platform="other", cluster_domain="cluster.local",
                        cluster_domain_source="test", dns_service=None, dns_service_ips=[], dns_server="127.0.0.1",
                        dns_port=53, ip_families=["IPv4"], dual_stack=False, dns_implementation="coredns",
                        dns_version="1", dns_image=None, real_kubelet=True, node_count=1)
"""


def test_infrastructure_error_in_a_test_body_is_an_error_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(FAKE_FACTS)
    (tmp_path / "test_x.py").write_text(
        "from fixtures.verdict import HarnessError, DnsViolation\n"
        "def test_infra():\n    raise HarnessError('exec failed: no exec found')\n"
        "def test_dns():\n    raise DnsViolation('-> requirement')\n"
        "import pytest\n"
        "@pytest.mark.case('HS-DNS-002')\n"
        "def test_precondition():\n    assert False, 'precondition: 3 ready endpoints'\n"
        "def test_plain_unit_test():\n    assert False\n")
    out = _pytest(["-q", "--junitxml", "j.xml", "test_x.py"], tmp_path)
    assert "2 failed" in out.stdout and "2 errors" in out.stdout, out.stdout
    xml = (tmp_path / "j.xml").read_text()
    assert 'errors="2"' in xml and 'failures="2"' in xml


def test_bad_option_value_is_one_usage_error(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures.plugin"]\n')
    out = _pytest(["--resolver-backend", "nslookup"], tmp_path)
    assert out.returncode == 4
    assert "use --resolver-backend python or --resolver-backend dig" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_list_images_prints_and_exits(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures.plugin"]\n')
    out = _pytest(["--list-images", "--image-registry", "mirror.example:5000"], tmp_path)
    assert out.returncode == 0
    assert "mirror.example:5000/pause:3.10" in out.stdout and "resolver" in out.stdout


@pytest.mark.parametrize(("kubeconfig", "expect"), [
    ("missing", "cannot load kubeconfig"),
    ("unreachable", "cannot reach the API server"),
])
def test_unusable_cluster_gives_one_message_and_no_traceback(tmp_path: Path, kubeconfig: str, expect: str) -> None:
    path = tmp_path / "kc"
    if kubeconfig == "unreachable":
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n"
            "    server: https://127.0.0.1:9\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n"
            "  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: x}\n")
    out = _pytest([str(ROOT / "conformance"), "-q", "--no-reports", "--kubeconfig", str(path),
                   "-k", "HS_DNS_027 or schema"], ROOT, {"HOME": str(tmp_path)})
    text = out.stdout + out.stderr
    assert out.returncode == 4, text
    assert expect in text and "Fix:" in text
    assert "Traceback" not in text

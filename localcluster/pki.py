"""The local cluster's own PKI: one CA and one admin certificate, made with openssl.

Like kwokctl's binary runtime, one certificate (O=system:masters) serves the API server, signs
service-account tokens' peer checks and authenticates every client. Nothing here is trusted
outside the run directory, which `down` removes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PKIError(RuntimeError):
    pass


@dataclass(frozen=True)
class PKI:
    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def admin_crt(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PKIError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()[-800:]}")


def create_pki(directory: Path, cluster_domain: str, service_ip: str) -> PKI:
    if shutil.which("openssl") is None:
        raise PKIError("openssl is not installed: apt-get install -y openssl")
    directory.mkdir(parents=True, exist_ok=True)
    pki = PKI(directory)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "365", "-subj", "/CN=hsdns-local-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "admin.key", "-out", "admin.csr",
             "-subj", "/O=system:masters/CN=hsdns-admin", cwd=directory)
    sans = ",".join([
        "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
        f"DNS:kubernetes.default.svc.{cluster_domain}", "IP:127.0.0.1", f"IP:{service_ip}",
    ])
    (directory / "admin.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n"
    )
    _openssl("x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "365", "-extfile", "admin.ext", "-out", "admin.crt", cwd=directory)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    for key in (pki.ca_key, pki.admin_key, pki.sa_key):
        key.chmod(0o600)
    return pki


def write_kubeconfig(path: Path, server: str, pki: PKI) -> None:
    write_client_kubeconfig(path, server, pki.ca_crt, pki.admin_crt, pki.admin_key, "hsdns-admin")


def issue_client_cert(pki: PKI, stem: str, common_name: str, organization: str | None = None) -> tuple[Path, Path]:
    """A client certificate signed by the run's CA (e.g. ``system:node:<name>`` in ``system:nodes``)."""
    subj = (f"/O={organization}" if organization else "") + f"/CN={common_name}"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{stem}.key", "-out", f"{stem}.csr",
             "-subj", subj, cwd=pki.dir)
    (pki.dir / f"{stem}.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "365", "-extfile", f"{stem}.ext", "-out", f"{stem}.crt", cwd=pki.dir)
    (pki.dir / f"{stem}.key").chmod(0o600)
    return pki.dir / f"{stem}.crt", pki.dir / f"{stem}.key"


def write_client_kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path, user: str) -> None:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: hsdns-local\n  cluster:\n"
        f"    server: {server}\n    certificate-authority: {ca}\n"
        f"users:\n- name: {user}\n  user:\n"
        f"    client-certificate: {crt}\n    client-key: {key}\n"
        f"contexts:\n- name: hsdns-local\n  context:\n    cluster: hsdns-local\n    user: {user}\n"
        "current-context: hsdns-local\n"
    )
    path.chmod(0o600)

"""Classify query names of the cluster zone: Service name, endpoint name, SRV name (no API access)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.name


@dataclass(frozen=True)
class KName:
    """A name under ``<ns>.svc.<zone>`` split into its parts (labels lower-cased)."""

    kind: str  # "service" | "endpoint" | "srv" | "namespace" | "other"
    service: str | None = None
    namespace: str | None = None
    zone: str = ""
    endpoint: str | None = None
    port: str | None = None  # SRV port name without the leading "_"
    proto: str | None = None  # SRV protocol without the leading "_"

    def service_name(self) -> str:
        """``<svc>.<ns>.svc.<zone>.`` (absolute, lower case)."""
        return f"{self.service}.{self.namespace}.svc.{self.zone}."


def _text(label: bytes) -> str:
    return label.decode("ascii", "replace").lower()


def parse(name: dns.name.Name | str) -> KName:
    """Split a name at its right-most ``svc`` label; ``kind`` says which cluster record family it names."""
    if isinstance(name, str):
        name = dns.name.from_text(name)
    labels = [_text(x) for x in name.labels if x]
    if "svc" not in labels:
        return KName("other")
    idx = len(labels) - 1 - labels[::-1].index("svc")
    zone = ".".join(labels[idx + 1:])
    before = labels[:idx]
    if not zone or not before:
        return KName("other")
    if len(before) == 1:
        return KName("namespace", namespace=before[0], zone=zone)
    svc, ns = before[-2], before[-1]
    if len(before) == 2 and not svc.startswith("_"):
        return KName("service", service=svc, namespace=ns, zone=zone)
    if len(before) == 3 and not before[0].startswith("_"):
        return KName("endpoint", service=svc, namespace=ns, zone=zone, endpoint=before[0])
    if len(before) == 4 and before[0].startswith("_") and before[1].startswith("_"):
        return KName("srv", service=svc, namespace=ns, zone=zone, port=before[0][1:], proto=before[1][1:])
    return KName("other")


def dashed(ip: str) -> str:
    """CoreDNS's fallback endpoint label for an address: ``10.1.2.3`` -> ``10-1-2-3``, ``fd00::1`` -> ``fd00--1``."""
    addr = ipaddress.ip_address(ip)
    text = addr.exploded if addr.version == 4 else str(addr)
    out = text.replace(".", "-").replace(":", "-")
    if out.endswith("-"):
        out += "0"
    if out.startswith("-"):
        out = "0" + out
    return out


def is_dashed_ip(label: str) -> bool:
    """True when ``label`` is a dashed IPv4 address (CoreDNS fallback name)."""
    parts = label.split("-")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) <= 255 for p in parts)


def has_upper(name: dns.name.Name) -> bool:
    return any(ch.isupper() for label in name.labels for ch in label.decode("ascii", "replace"))

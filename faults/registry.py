"""The seeded faults: what each one breaks (catalogue ids), how it is made, and where it comes from.

``breaks`` lists exactly the catalogue ids (conformance/catalogue.yaml) the fault must turn into
FAIL; the runner verifies it against the real suite on the local cluster (docs/faults.md has the
measured table). ``kind`` is ``proxy`` (a transform in faults/transforms.py applied by the DNS
proxy) or ``coredns`` (a second real CoreDNS with a Corefile mutation from faults/coredns.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from faults import coredns, transforms


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # "proxy" | "coredns"
    summary: str
    breaks: tuple[str, ...]
    origin: str  # the real-world failure it models
    needs_api: bool = False  # proxy faults that read Services/EndpointSlices
    ci: bool = False  # part of the representative subset run by CI

    def describe(self) -> str:
        fn = transforms.TRANSFORMS.get(self.name) if self.kind == "proxy" else coredns.MUTATIONS.get(self.name)
        doc = (fn.__doc__ if fn is not None else self.summary) or ""
        return " ".join(doc.split())


def _ids(*numbers: int) -> tuple[str, ...]:
    return tuple(f"HS-DNS-{n:03d}" for n in numbers)


FAULTS: tuple[Fault, ...] = (
    # --- wrong address sets
    Fault("drop-one-a", "proxy", "Service-name A answers lose one record",
          _ids(1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31),
          "a server/cache that loses records of a large RRset"),
    Fault("foreign-a", "proxy", "Service-name A answers get an address of no endpoint",
          _ids(1, 2, 5, 7, 9, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31),
          "a stale or shared answer mixing in foreign addresses"),
    Fault("fake-cluster-ip", "proxy", "headless Service name answers a ClusterIP-like address",
          _ids(1, 2, 5, 7, 9, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31),
          "treating a headless Service like a ClusterIP Service", ci=True),
    Fault("publish-not-ready", "proxy", "not-ready endpoints are published",
          _ids(4, 20, 21, 22, 23), "CoreDNS 1.8.1-1.8.3 (coredns/coredns#4580), pitfall 5", needs_api=True),
    Fault("stale-cache", "proxy", "old records are served forever next to new ones",
          _ids(8, 9, 21, 22), "pitfall 3: coredns/coredns#3432, #4885, kubernetes/dns#332"),
    Fault("long-cache", "coredns", "cache 300 with min TTL 300 (real CoreDNS cache misconfiguration)",
          _ids(8, 9, 20, 21, 22), "pitfall 3: cache keeps a deleted pod's IP (coredns/coredns#4885)"),
    # --- per-endpoint names
    Fault("pod-name-nxdomain", "proxy", "per-endpoint names answer NXDOMAIN",
          _ids(6, 8, 9, 10, 11, 12, 20, 21, 22, 23, 30), "pitfall 3/12: per-pod names missing", ci=True),
    Fault("one-record-per-hostname", "proxy", "a shared hostname answers one address only",
          _ids(11), "pitfall 2: kube-dns kubernetes/dns#116"),
    Fault("alias-pod-names", "coredns", "rewrite maps <h>.<svc> onto <svc> (real CoreDNS rewrite)",
          _ids(6, 7, 8, 9, 10, 12, 20, 21, 22, 23, 30, 31), "an over-broad alias rewrite in a Corefile"),
    # --- SRV
    Fault("srv-service-port", "proxy", "SRV carries the Service port instead of the target port",
          _ids(12, 13, 14, 15, 18, 20, 23, 24, 32), "pitfall 8: kubernetes/kubernetes#20488", needs_api=True,
          ci=True),
    Fault("srv-dashed-targets", "proxy", "SRV targets are dashed-IP names instead of hostnames",
          _ids(12, 13, 14, 15, 16, 18, 20, 23, 24, 32), "pitfall 1: kubernetes/kubernetes#85759"),
    Fault("srv-any-port-name", "proxy", "SRV for unknown/unnamed port names answers every port",
          _ids(17, 32), "pitfall 7/9: unnamed ports and guessed port names"),
    # --- rcodes and case
    Fault("swap-nxdomain-nodata", "proxy", "NXDOMAIN and NODATA swapped",
          _ids(4, 5, 31), "RFC 2308 confusion (row 2: CoreDNS NXDOMAIN at dns-version)"),
    Fault("case-sensitive", "proxy", "names with upper-case letters answer NXDOMAIN",
          _ids(12), "case-sensitive lookups (spec section 2.1)"),
    # --- PTR
    Fault("drop-ptr", "proxy", "PTR answers dropped (NODATA)",
          _ids(19, 23), "pitfall 6: coredns/coredns#7177"),
    Fault("no-reverse-zones", "coredns", "kubernetes plugin without in-addr.arpa/ip6.arpa (real Corefile)",
          _ids(19, 23), "pitfall 6: coredns/coredns#1241"),
    # --- size and transport
    Fault("truncate-tcp", "proxy", "TCP answers truncated at 512 bytes too",
          _ids(13, 15, 16, 25, 26, 32), "pitfall 10: large answers never complete"),
    Fault("udp-no-tc", "proxy", "truncated UDP answers without the TC flag",
          _ids(26), "pitfall 10: coredns/coredns#4684, musl clients without TCP fallback"),
    # --- availability and schema
    Fault("intermittent-servfail", "proxy", "every third cluster-zone query answers SERVFAIL",
          _ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 30, 31, 32),
          "pitfall 3: kubernetes/kubernetes#78128, #127259 (flapping answers)"),
    Fault("wrong-dns-version", "coredns", "dns-version TXT answers a non-version string (template block)",
          _ids(27), "row 1 / section 1.13 item 5: dns-version missing or wrong", ci=True),
)

BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}
CI_SUBSET: tuple[str, ...] = tuple(f.name for f in FAULTS if f.ci)


def select(names: str | None, *, ci: bool = False) -> list[Fault]:
    """Faults named in a comma-separated list (all when empty); unknown names raise ``KeyError``."""
    if ci and not names:
        return [BY_NAME[n] for n in CI_SUBSET]
    if not names:
        return list(FAULTS)
    chosen = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in BY_NAME:
            raise KeyError(name)
        chosen.append(BY_NAME[name])
    return chosen

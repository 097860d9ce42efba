"""The seeded faults: what each one must break (catalogue ids, each with its reason), what it must not,
how it is made, and where it comes from.

The id lists are derived from the catalogue's requirements (conformance/catalogue.yaml), the checks each
test makes (conformance/) and the answer-integrity rules (fixtures/dns/integrity.py), never copied from a
run; the runner then verifies them against the real suite (docs/faults.md has the measured table).

* ``reasons``: id -> why the fault MUST turn it into FAIL (these are the fault's ``breaks``);
* ``spares``: id -> why it must NOT break an id the fault comes close to (its records are touched, or a
  neighbouring check is); every other id must not break either: any FAIL or ERROR outside ``reasons`` is
  reported as unexpected;
* ``revised``: id -> why the list was changed after seeing a run (empty: the list is as first reasoned).

``kind``: ``proxy`` (a transform in faults/transforms.py applied by the DNS proxy on 127.0.0.1),
``coredns`` (a second real CoreDNS on 127.0.0.1 with a Corefile mutation from faults/coredns.py) or
``replica`` (a misconfigured CoreDNS replica added to the cluster's kube-dns Service, faults/replica.py;
the suite then runs on real pods, without --dns-server, and queries every replica directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from faults import coredns, transforms

# The scale scenario's size in fault runs (the runner passes --scale-replicas SCALE unless told otherwise):
# pod churn is what the local control plane runs out of, and the scale scenario is most of it (1,000 pods:
# about 5 minutes of both cores per run; docs/faults.md "Speed"). 150 keeps every behaviour of 039-042:
# more than one EndpointSlice (100 per slice), UDP answers truncated at 512 and 1232 bytes (150 A records
# are 2.4 KB), the scale-down and back. The reasons below are for SCALE: its complete SRV set (about 74
# bytes a record) fits one 64 KiB message, so 041 expects it exact; with 1,000 (74 KB) 041 only expects TC
# and real endpoints' records, and truncate-tcp and right-then-wrong could not break it.
SCALE = 150
# The catalogue ids a fault's lists are reasoned over (its ``scope``; a run selects them with `-k`): the first
# catalogue (HS-DNS-001..042) for every fault, the whole catalogue for the faults whose lists were extended
# to HS-DNS-043..080 (``EVERY``). An id outside a fault's scope is neither run nor judged for that fault.
REASONED: tuple[str, ...] = tuple(f"HS-DNS-{n:03d}" for n in range(1, 43))
EVERY: tuple[str, ...] = tuple(f"HS-DNS-{n:03d}" for n in range(1, 81))
# Known deviations of the local cluster's CoreDNS (expectations/local.yaml): they FAIL in the healthy
# baseline already, so no fault can be credited or blamed for them (listed nowhere below).
DEVIATIONS = (62, 63, 69, 73)


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # "proxy" | "coredns" | "replica"
    summary: str
    origin: str  # the real-world failure it models
    reasons: Mapping[str, str]  # id -> why it must FAIL
    spares: Mapping[str, str] = field(default_factory=dict)  # id -> why it must not FAIL (the close calls)
    revised: Mapping[str, str] = field(default_factory=dict)  # id -> why the list changed after a run
    # id -> why either verdict is right: the fault's damage shows only if a poll lands in a window of the
    # cluster's own timing (neither credited as a detection nor blamed as unexpected)
    may: Mapping[str, str] = field(default_factory=dict)
    needs_api: bool = False  # proxy faults that read Services/EndpointSlices
    slow: bool = True  # False: the fault changes no answer a `slow` case asks, so its run skips them
    mutation: str | None = None  # replica faults: the faults/coredns.py mutation of the bad replica's Corefile
    scope: tuple[str, ...] = REASONED  # the ids the lists are reasoned over (the run selects these)

    @property
    def breaks(self) -> tuple[str, ...]:
        return tuple(self.reasons)

    def describe(self) -> str:
        fn: object = (transforms.TRANSFORMS.get(self.name) if self.kind == "proxy"
                      else coredns.MUTATIONS.get(self.mutation or self.name))
        doc = (fn.__doc__ if fn is not None else self.summary) or ""
        if self.kind == "replica":
            doc = f"A third kube-dns replica (Deployment kube-system/coredns-bad) whose Corefile has: {doc}"
        return " ".join(doc.split())


def _ids(table: Mapping[int, str]) -> dict[str, str]:
    return {f"HS-DNS-{n:03d}": why for n, why in sorted(table.items())}


# Reasons shared by several faults (the case's question that the fault's answer breaks).
SVC_A = {
    1: "the seed's Service-name A set (3) must be exact",
    2: "the seed's Service-name A set (3) must be exact",
    5: "the A part: the seed's Service-name A set (3) must be exact",
    7: "the Service name still answers all 3 pods (exact)",
    10: "the Service name answers all 3 selected pods (exact)",
    12: "the mixed-case Service name answers the seed's 3 addresses (exact)",
    17: "the Service name of the unnamed-port Service answers its 3 pods (exact)",
    20: "phase 1: the Service name answers the 2 ready pods (exact)",
    21: "phase 1: the Service name answers the 3 published not-ready pods (exact)",
    22: "start: the Service name answers keep + leave (exact); it never converges",
    23: "the selector-less Service name answers m1, m2, m3 (exact)",
    24: "the selector-less Service name answers both slices' addresses (exact)",
    25: "150 addresses over TCP (exact)",
    26: "the TCP part: 150 addresses (exact)",
    31: "the seed's Service-name A set (3) must be exact",
    39: f"{SCALE} addresses over TCP (exact)",
    42: f"after {SCALE} -> 10 the Service name answers 10 addresses over TCP (exact)",
}
SRV_SETS = {
    12: "the mixed-case _http._tcp SRV set (3, port 8080) must be exact",
    13: "_http._tcp SRV: 3 records, endpoint port 8080, per-endpoint targets (exact)",
    14: "_http._tcp (8080) and _metrics._tcp (9100) SRV sets (exact)",
    15: "_syslog._udp SRV: 3 records, port 5514 (exact)",
    16: "_diameter._sctp SRV: 3 records, port 3868 (exact)",
    18: "_http._tcp SRV: pa 8080 and pb 8081 (exact)",
    20: "phase 1: _http._tcp SRV of the 2 ready pods (exact)",
    23: "_http._tcp SRV of m1, m2, m3 (exact)",
    24: "_http._tcp SRV: only the named slice's endpoint (exact)",
    32: "_http._tcp SRV of the seed (3, exact)",
    41: f"_http._tcp SRV of {SCALE} endpoints over TCP (about {SCALE * 74 // 1000} KB: fits, exact)",
}
ENDPOINT_A = {
    6: "web-0/1/2.<svc> each answer their pod's address",
    8: "web-0's name answers its pod's address (before and after re-creation)",
    9: "start: web-2's name answers its address",
    10: "alpha.<svc> answers the pod with hostname alpha",
    11: "shared.<svc> answers all 3 addresses",
    12: "the mixed-case web-0 name answers its address",
    20: "web-0's name answers its address",
    21: "phase 1: web-0's name answers the published not-ready pod",
    22: "start: leave's name answers its address; it never converges",
    23: "m1's and m3's names answer their addresses",
    30: "each system-assigned SRV target name must resolve to one address",
}
NEGATIVE = {
    4: "the Service without ready endpoints: A and SRV NXDOMAIN",
    5: "the AAAA query of the IPv4-only Service is NODATA",
    7: "web-0/1/2 names of the mismatched StatefulSet answer no records",
    9: "after the scale-down web-1 and web-2 answer no records",
    10: "gamma (subdomain of another Service) answers no records",
    17: "_http._tcp and _80._tcp SRV of the unnamed port answer no records",
    20: "phase 1: web-2 (not ready) answers no records",
    21: "phase 2: the Service name and web-0 answer no records",
    22: "leave (Terminating) answers no records",
    23: "m4 (ready=false) answers no records",
    31: "the unknown label is NXDOMAIN",
    32: "_nosuch._tcp and _http._udp SRV answer no records",
    42: "the removed pods' names (web-10, web-500, web-999) answer no records",
}
SLOW = (25, 26, 39, 40, 41, 42)

# HS-DNS-043..080 (the extended faults). "Dual-stack only" ids run where the pods have both families (they
# SKIP by their capability probe elsewhere: then not applicable); 071 runs where the seed has one family
# only. 076-080 ask through a real pod's libc (requires real_kubelet): they SKIP on the KWOK nodes the proxy
# faults run on, so they are not applicable there (their failure is shown by docs/faults.md "Applications").
SVC_A_NEW = {
    43: "the starting point: the Service name answers its 2 pods (exact) before the deletion",
    44: "the Service name answers its 2 pods (exact), before the deletion and after the re-creation",
    45: "the Service name answers stays + leaves, then stays only (exact)",
    47: "the Service name answers its 2 pods (exact) before and after the refused patches",
    51: "dual-stack only: both Services' names answer A with exactly their IPv4 endpoint addresses",
    53: "each of the two Service names answers its 2 ready pods (exact)",
    56: "the ClusterIP Service's name answers exactly its ClusterIP, the headless one its 2 pods (exact)",
    58: "each namespace's Service name answers exactly its own 2 pods",
    59: "the Service name answers keep and leave (exact), also while leave is terminating",
    60: "the Service name answers exactly the ready, unset and ready-terminating endpoints",
    61: "the Service name answers one, both and three, each once (exact)",
    64: "the Service name answers the pod with the 63-character hostname (exact)",
    65: "the Service name answers the long-named StatefulSet's pods (exact)",
    66: "the port-less Service name answers its pods (exact)",
}
ENDPOINT_A_NEW = {
    43: "the starting point: web-0 and web-1 answer their addresses before the deletion",
    44: "web-0 and web-1 answer their addresses before the deletion and after the re-creation",
    45: "stays and leaves answer their addresses before the relabel, stays after it",
    47: "web-0 and web-1 answer their addresses before and after the refused patches",
    48: "dual-stack only: each per-pod name answers A and AAAA with its pod's addresses",
    50: "dual-stack only: each SRV target (a per-pod name) answers A and AAAA",
    52: "IPv6-only: each per-pod name answers AAAA with its pod's address",
    53: "web-0 and web-1 under the governing Service answer their addresses",
    56: "the headless Service's web-0 and web-1 answer their addresses",
    57: "every name the PTR answers gives (a per-pod name) must answer the endpoint's IP",
    58: "each namespace's web-0 and web-1 answer their own pod's address",
    59: "keep and leave answer their addresses, also while leave is terminating",
    60: "ready, unset and ready-terminating answer their addresses",
    61: "one, both and three answer their addresses",
    64: "the 63-character hostname answers its address",
    65: "the long StatefulSet's per-pod names answer their addresses",
    66: "the port-less Service's per-pod names answer their addresses",
    70: "the seed's first per-pod name must be NODATA for the types it lacks; NXDOMAIN is given",
    71: "single-family seed only: the per-pod name answers its family and is NODATA for the other",
}
SRV_NEW = {
    43: "the starting point: _http._tcp answers the 2 endpoints with port 8080 (exact) before the deletion",
    44: "_http._tcp answers port 8080 (exact), before the deletion and after the re-creation",
    45: "_http._tcp answers stays and leaves, then stays only, with port 8080 (exact)",
    46: "_http._tcp, then _web._tcp, answer the endpoints with port 8080 (Service port 80)",
    47: "_http._tcp answers port 8080 (exact) before and after the refused patches",
    50: "dual-stack only: _http._tcp answers port 8080 (exact)",
    56: "the headless Service's _http._tcp answers port 8080 (exact)",
    58: "each namespace's _http._tcp answers its own pods with port 8080 (exact)",
    59: "_http._tcp answers keep and leave with port 8080 (exact)",
    60: "_http._tcp answers the 3 ready endpoints with the slice port 8080 (the Service port is 80)",
    61: "_http._tcp answers one, both and three with the slice port 8080 (the Service port is 80)",
    67: "each of the 16 named ports answers its target port 8000+i, not the Service port 9000+i",
    74: "the 30 SRV records carry the slice port 8080: the UDP subset and the TCP set are wrong (Service port 80)",
}
NEGATIVE_NEW = {
    43: "after the deletion the Service name, per-pod names and SRV name must be NXDOMAIN",
    44: "the starting point of the rule: the deleted Service's names must be NXDOMAIN",
    52: "IPv6-only: A of the Service name and of each per-pod name must be NODATA",
    53: "the per-pod names under the second Service (it gives no hostname) must be NXDOMAIN",
    60: "the names of the endpoints that are not ready (serving-terminating, not-ready) must be NXDOMAIN",
    68: "every type of the absent Service, per-pod and SRV names must be NXDOMAIN",
    70: "the Service name and a per-pod name must be NODATA for TXT, MX, CNAME, NS, SOA, PTR, HINFO, CAA",
    71: "single-family seed only: the other family of a per-pod name must be NODATA",
    72: "<ns>.svc.<zone> (an empty non-terminal) must be NODATA",
    75: "the absent name's A must be NXDOMAIN and the present name's other type NODATA (with bounded SOA TTL)",
}


def _pick(table: Mapping[int, str], *nums: int, prefix: str = "") -> dict[int, str]:
    return {n: prefix + table[n] for n in nums}


FAULTS: tuple[Fault, ...] = (
    # --- wrong address sets
    Fault("drop-one-a", "proxy", "Service-name A answers lose one record",
          "a server/cache that loses records of a large RRset",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31, 39, prefix="one record short: ")
               | {42: f"one record short: {SCALE} -> 10 -> {SCALE}, each Service-name answer over TCP must be exact"}),
          spares=_ids({8: "only none_of(the old address) on the Service name; web-0's own name is untouched",
                       9: "after the scale-down the Service name has 1 record, and only answers of >= 2 lose one",
                       11: "shared.<svc> is an endpoint name, not a Service name",
                       40: "a truncated UDP answer one record shorter is still a subset of the endpoints with TC",
                       3: "AAAA answers are untouched"})),
    Fault("foreign-a", "proxy", "Service-name A answers get an address of no endpoint",
          "a stale or shared answer mixing in foreign addresses",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 31, 39, 42, prefix="192.0.2.10 extra: ")
               | {9: "192.0.2.10 extra: after the scale-down the Service name answers web-0 only (exact)",
                  26: "192.0.2.10 is first, survives the UDP truncation: not a subset of the endpoints (and TCP exact)",
                  40: "192.0.2.10 is first, survives the UDP truncation: a record of no endpoint"}),
          spares=_ids({8: "none_of(the old address): 192.0.2.10 is not the old address; web-0's name is untouched",
                       3: "AAAA answers are untouched", 6: "endpoint names are untouched",
                       11: "shared.<svc> is an endpoint name"})),
    Fault("fake-cluster-ip", "proxy", "headless Service name answers a ClusterIP-like address",
          "treating a headless Service like a ClusterIP Service",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 31, 39, 42,
                     prefix="one ClusterIP instead: ")
               | {9: "one ClusterIP instead: after the scale-down the Service name answers web-0 (exact)",
                  26: "the UDP answer holds 10.96.255.250, no endpoint (and TCP exact)",
                  40: "the UDP answers hold 10.96.255.250, no endpoint"}
               | _pick(SVC_A_NEW, *SVC_A_NEW, prefix="one ClusterIP instead: ")),
          spares=_ids({8: "none_of(the old address) holds for 10.96.255.250; web-0's name is untouched",
                       3: "AAAA answers are untouched", 11: "shared.<svc> is an endpoint name"}
                      | {n: "asks no A record of a Service name" for n in (46, 48, 49, 50, 54, 57, 67, 71, 74)}
                      | {n: "its Service-name questions are negative (no A RRset to replace)"
                         for n in (52, 68, 70, 72, 75)}
                      | {55: "INFO, never a FAIL"}),
          scope=EVERY),
    Fault("publish-not-ready", "proxy", "not-ready endpoints are published",
          "CoreDNS 1.8.1-1.8.3 (coredns/coredns#4580), pitfall 5",
          _ids({4: "the 3 not-ready endpoints are published under A and _http._tcp SRV, which must be NXDOMAIN",
                20: "not-ready web-2 appears in the Service name, the SRV set and its own name",
                21: "phase 2: with publishNotReadyAddresses false the not-ready pods are still published",
                22: "the Terminating leave endpoint (ready=false, held 60 s by its finalizer) is published",
                23: "m4 (ready=false) appears in the Service name, its own name and the SRV set"}),
          spares=_ids({8: "a StatefulSet re-creates web-0 only after the old pod is gone: no not-ready web-0 left",
                       7: "all 3 pods ready", 10: "all 3 pods ready", 11: "all 3 pods ready"}),
          revised=_ids({9: "was a must-not (the scaled-down pods are Terminating, ready=false, for their 1 s grace "
                           "only); the hold after convergence (issue 9) now sees the fault publish them when a poll "
                           "lands in that second (2026-12-01, CI subset: FAIL): moved to `may`"}),
          may=_ids({9: "the scaled-down pods are Terminating (ready=false) for about 1 s: publishing them is the "
                       "fault's damage, seen only if a poll (and the proxy's 1 s API view) lands in that window",
                    42: f"as 009: {SCALE - 10} pods Terminating for about 1 s, then gone from the slices"}),
          needs_api=True),
    Fault("stale-cache", "proxy", "old records are served forever next to new ones",
          "pitfall 3: coredns/coredns#3432, #4885, kubernetes/dns#332",
          _ids({8: "web-0's name keeps the old pod's address next to the new one",
                9: "web-2's address, answered before the scale-down, keeps answering",
                21: "phase 2: the 3 addresses of phase 1 keep answering after publishNotReadyAddresses is false",
                22: "leave's address (answered at the start) keeps answering while it is Terminating",
                42: f"the {SCALE} addresses answered by 039 keep answering after the scale to 10"}),
          spares=_ids({20: "its sets only grow (2 -> 3 ready): nothing removed, nothing stale",
                       26: "truncated UDP subsets are remembered per name and type, but the TCP answer already holds "
                           "them all",
                       40: "every remembered address is an endpoint: the truncated UDP subsets stay subsets"})),
    Fault("long-cache", "coredns", "cache 300 with min TTL 300 (real CoreDNS cache misconfiguration)",
          "pitfall 3: cache keeps a deleted pod's IP (coredns/coredns#4885)",
          _ids({8: "web-0's old address is cached 300 s (asked at the start), longer than the deadline",
                9: "web-2's address is cached 300 s (asked at the start)",
                20: "phase 2: the phase-1 Service-name answer (2 addresses) is cached 300 s, 3 are expected",
                21: "phase 2: the published addresses of phase 1 are cached 300 s",
                22: "leave's address is cached 300 s (asked at the start)",
                42: f"the {SCALE}-address answer (cached by 039) is served after the scale to 10"}),
          spares=_ids({1: "answers that never change are not wrong from a cache (the first query comes after the "
                          "API state is reached; a lagging first answer would be the only way)",
                       27: "TTL 300 is within the integrity rule's max TTL (3600)",
                       31: "negative answers are not cached (disable denial)"})),
    # --- per-endpoint names
    Fault("pod-name-nxdomain", "proxy", "per-endpoint names answer NXDOMAIN",
          "pitfall 3/12: per-pod names missing",
          _ids(_pick(ENDPOINT_A, 6, 8, 9, 10, 11, 12, 20, 21, 22, 23, 30, prefix="NXDOMAIN instead: ")
               | _pick(ENDPOINT_A_NEW, *ENDPOINT_A_NEW, prefix="NXDOMAIN instead: ")),
          spares=_ids({7: "those names must not resolve anyway", 31: "NXDOMAIN is what the unknown label must get",
                       19: "PTR names are not endpoint names; the targets are only compared",
                       13: "SRV names and their additional records are untouched",
                       42: "the removed pods' names must answer no records anyway"}
                      | {n: "asks no per-pod name (Service, SRV, PTR or zone names only)"
                         for n in (46, 49, 51, 54, 67, 72, 74, 75)}
                      | {68: "its per-pod name does not exist: NXDOMAIN is the rule", 55: "INFO, never a FAIL"}),
          slow=False, scope=EVERY),
    Fault("one-record-per-hostname", "proxy", "a shared hostname answers one address only",
          "pitfall 2: kube-dns kubernetes/dns#116",
          _ids({11: "shared.<svc> must answer all 3 addresses; it answers 1"}),
          spares=_ids({6: "one address per StatefulSet pod name: nothing to drop",
                       10: "alpha has one address", 23: "m1 and m3 have one address each"}),
          slow=False),
    Fault("alias-pod-names", "coredns", "rewrite maps <h>.<svc> onto <svc> (real CoreDNS rewrite)",
          "an over-broad alias rewrite in a Corefile",
          _ids({6: "web-0/1/2 answer the Service's 3 addresses instead of one",
                7: "web-0/1/2 must not resolve; they answer the Service's 3 addresses",
                8: "web-0 answers both pods' addresses", 9: "start: web-2 answers 3 addresses",
                10: "alpha answers the 3 selected pods", 12: "mixed-case web-0 answers 3 addresses (the rewrite "
                                                            "matches the lower-cased name)",
                20: "web-0 answers the 2 ready addresses", 21: "phase 1: web-0 answers 3 addresses",
                22: "start: leave answers 2 addresses", 23: "m1 answers 3 addresses; m4 answers 3 instead of none",
                30: "each dashed target answers 2 addresses, not one",
                31: "the unknown label answers the Service's addresses instead of NXDOMAIN",
                42: "the removed pods' names answer the 10 remaining addresses instead of no records"}),
          spares=_ids({11: "shared.<svc> must answer all 3 addresses, which are exactly the Service's 3",
                       13: "SRV names start with '_' and are not rewritten",
                       19: "reverse names are not rewritten"})),
    # --- SRV
    Fault("srv-service-port", "proxy", "SRV carries the Service port instead of the target port",
          "pitfall 8: kubernetes/kubernetes#20488",
          _ids(_pick(SRV_SETS, 12, 13, 14, 15, 18, 20, 23, 24, 32, 41, prefix="Service port instead: ")
               | _pick(SRV_NEW, *SRV_NEW, prefix="Service port instead: ")),
          spares=_ids({16: "the SCTP Service port and target port are both 3868",
                       30: "only the number of SRV records and their target domain are checked",
                       17: "no SRV records to rewrite", 4: "no SRV records to rewrite"}
                      | {n: "asks no SRV record" for n in (48, 49, 51, 52, 53, 54, 57, 64, 65, 70, 71, 72, 75)}
                      | {66: "the Service has no port: its SRV names answer no records, nothing to rewrite",
                         68: "the absent SRV name is NXDOMAIN: nothing to rewrite", 55: "INFO, never a FAIL"}),
          needs_api=True, scope=EVERY),
    Fault("srv-dashed-targets", "proxy", "SRV targets are dashed-IP names instead of hostnames",
          "pitfall 1: kubernetes/kubernetes#85759",
          _ids(_pick(SRV_SETS, 12, 13, 14, 15, 16, 18, 20, 23, 24, 32, 41, prefix="dashed targets: ")),
          spares=_ids({30: "its endpoints have no hostname: the targets already are dashed names",
                       17: "no SRV records", 33: "INFO, never a FAIL"})),
    Fault("srv-any-port-name", "proxy", "SRV for unknown/unnamed port names answers every port",
          "pitfall 7/9: unnamed ports and guessed port names",
          _ids({17: "_http._tcp and _80._tcp of the unnamed port answer the bare name's records",
                32: "_nosuch._tcp and _http._udp answer the Service's records"}),
          spares=_ids({4: "the bare-name SRV of a Service without ready endpoints is empty too",
                       24: "the named slice port answers records: the fault only fills empty answers",
                       13: "the asked name has records: untouched"}),
          slow=False),
    # --- rcodes and case
    Fault("swap-nxdomain-nodata", "proxy", "NXDOMAIN and NODATA swapped",
          "RFC 2308 confusion (row 2: CoreDNS NXDOMAIN at dns-version)",
          _ids({4: "NXDOMAIN expected for A and SRV; NODATA given",
                5: "NODATA expected for AAAA; NXDOMAIN given",
                31: "NXDOMAIN expected for the unknown label; NODATA given"}
               | _pick(NEGATIVE_NEW, *NEGATIVE_NEW, prefix="swapped: ")),
          spares=_ids({n: "'no records' accepts NXDOMAIN and NODATA alike" for n in (7, 9, 17, 20, 21, 22, 23, 32, 42)}
                      | {27: "dns-version.<zone> is not under svc.<zone>"}
                      | {n: "'no records' accepts NXDOMAIN and NODATA alike; its other questions are positive"
                         for n in (45, 46, 66)}
                      | {n: "asks positive questions only" for n in (47, 48, 50, 51, 56, 58, 59, 61, 64, 65, 67, 74)}
                      | {n: "reverse names are not under svc.<zone>" for n in (49, 54)}
                      | {57: "PTR (not under svc.<zone>) and positive forward questions only",
                         55: "INFO, never a FAIL"}),
          scope=EVERY),
    Fault("case-sensitive", "proxy", "names with upper-case letters answer NXDOMAIN",
          "case-sensitive lookups (spec section 2.1)",
          _ids({12: "the mixed-case Service, endpoint and SRV names answer NXDOMAIN"}),
          spares=_ids({n: "asks lower-case names only" for n in (2, 6, 13)}), slow=False),
    # --- PTR
    Fault("drop-ptr", "proxy", "PTR answers dropped (NODATA)", "pitfall 6: coredns/coredns#7177",
          _ids({19: "the PTR of each seed endpoint must name it", 23: "the PTR of m1 must be m1.<svc>"}),
          spares=_ids({36: "INFO, never a FAIL"}), slow=False),
    Fault("no-reverse-zones", "coredns", "kubernetes plugin without in-addr.arpa/ip6.arpa (real Corefile)",
          "pitfall 6: coredns/coredns#1241",
          _ids({19: "PTR queries are not served by the kubernetes plugin", 23: "the PTR of m1 is not served"}
               | {n: "the PTR of each ready endpoint must name it (exactly), " + why for n, why in {
                   43: "the starting point, before the deletion", 44: "before the deletion and after the re-creation",
                   45: "before and after the relabel", 47: "before and after the refused patches",
                   59: "keep and leave", 60: "the 3 ready endpoints", 61: "one, both and three",
                   64: "the 63-character hostname", 65: "the long StatefulSet's pods"}.items()}
               | {49: "dual-stack only: the ip6.arpa PTR of each IPv6 endpoint address must name it",
                  54: "the PTR of each pod IP must include its name under the governing Service",
                  56: "the PTR of each pod IP must include its name under the headless Service",
                  57: "the PTR answers (before their names are resolved back) must include each pod's name"}),
          spares=_ids({36: "INFO, never a FAIL", 55: "INFO, never a FAIL"}
                      | {n: "asks no PTR" for n in (46, 48, 50, 51, 52, 53, 58, 66, 67, 71, 72, 74, 75)}
                      | {n: "asks PTR only as a type of cluster-zone names, which the kubernetes plugin still serves"
                         for n in (68, 70)}),
          slow=False, scope=EVERY),
    # --- size and transport
    Fault("truncate-tcp", "proxy", "TCP answers truncated at 1232 bytes (TC)",
          "pitfall 10: large answers never complete",
          _ids({25: "150 A records (about 2.5 KB) over TCP come truncated with TC, 150 exact expected",
                26: "the TCP part: 150 A records truncated",
                39: f"{SCALE} A records (about {SCALE * 16 // 1000} KB) over TCP truncated",
                41: f"the complete SRV set of {SCALE} (about {SCALE * 74 // 1000} KB) is expected over TCP: truncated",
                42: f"after 10 -> {SCALE} the TCP answer of {SCALE} addresses is truncated"}),
          spares=_ids({13: "seed-size SRV answers (3 records and their A records, about 0.6 KB) fit in 1232 bytes",
                       14: "two 3-record SRV sets, each fits", 15: "fits", 16: "fits", 18: "fits", 32: "fits",
                       40: "UDP answers are untouched"})),
    Fault("udp-no-tc", "proxy", "truncated UDP answers without the TC flag",
          "pitfall 10: coredns/coredns#4684, musl clients without TCP fallback",
          _ids({26: "the truncated no-EDNS UDP answer of 150 addresses must set TC",
                40: f"the truncated UDP answers of {SCALE} addresses (no EDNS and 1232 bytes) must set TC"}),
          spares=_ids({n: "TCP only" for n in (25, 39, 41, 42)}
                      | {13: "seed-size UDP answers are never truncated"})),
    # --- availability and schema
    Fault("intermittent-servfail", "proxy", "every third cluster-zone query answers SERVFAIL",
          "pitfall 3: kubernetes/kubernetes#78128, #127259 (flapping answers)",
          _ids({n: "every 3rd cluster-zone query is SERVFAIL: no 3 clean polls in a row, or one in the >= 20-poll "
                   "hold" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24,
                                    25, 26, 30, 31, 32, 39, 40, 41, 42)}),
          spares=_ids({19: "reverse names are not counted (not under svc.<zone>)",
                       27: "dns-version.<zone> is not under svc.<zone>"})),
    Fault("wrong-dns-version", "coredns", "dns-version TXT answers a non-version string (template block)",
          "row 1 / section 1.13 item 5: dns-version missing or wrong",
          _ids({27: "the TXT record is 'schema-unknown', not a semantic version"}),
          spares=_ids({37: "INFO, never a FAIL"}), slow=False),
    # --- answer integrity (issue 9 item 7)
    Fault("wrong-owner", "proxy", "Service-name A/AAAA records under the namespace's name",
          "a server that puts the right data under the wrong node of its tree",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31, 39, 42,
                     prefix="integrity 'owner': ")
               | {3: "integrity 'owner': the AAAA set of the dual-stack seed is owned by <ns>.svc.<zone>",
                  8: "integrity 'owner': the Service-name answer (checked none_of the old address) is misowned",
                  9: "integrity 'owner': the Service name after the scale-down (web-0) is misowned",
                  40: "integrity 'owner': the truncated UDP answers are misowned"}),
          spares=_ids({6: "endpoint names are untouched", 11: "endpoint names are untouched",
                       13: "SRV answers are untouched", 4: "NXDOMAIN: no records to misown",
                       19: "PTR answers are untouched"})),
    Fault("duplicate-records", "proxy", "one Service-name A or SRV record given twice",
          "a server or cache that merges RRsets badly (one record per IP broken)",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31, 39, 42,
                     prefix="integrity 'duplicate' / multiset: ")
               | _pick(SRV_SETS, 13, 14, 15, 16, 18, 32, 41, prefix="integrity 'duplicate' / multiset: ")
               | {8: "integrity 'duplicate': the Service-name answer (checked none_of) repeats a record",
                  9: "integrity 'duplicate' / multiset: the Service name after the scale-down repeats web-0",
                  30: "integrity 'duplicate': the SRV answer (shape 2) repeats a record",
                  40: "integrity 'duplicate': the duplicate pair is first and survives the UDP truncation"}),
          spares=_ids({3: "AAAA answers are untouched", 6: "endpoint names are untouched",
                       11: "endpoint names are untouched", 19: "PTR answers are untouched",
                       4: "NXDOMAIN: nothing to repeat"})),
    Fault("flapping-stale", "proxy", "one answer in ten is the name's previous answer",
          "a cache returning stale data now and then (kubernetes/kubernetes#127259 flapping answers)",
          _ids({8: "web-0's name flaps back to the old pod's address (its answer at the start, 3 times)",
                9: "web-2's name flaps back to its address after the scale-down",
                20: "phase 2: the Service name flaps back to 2 addresses, web-2 back to NXDOMAIN",
                21: "phase 2: the Service name and web-0 flap back to the published addresses",
                22: "leave's name flaps back to its address while Terminating",
                42: f"after {SCALE} -> 10 the Service name flaps back to the {SCALE} addresses (answered by 039)"}),
          spares=_ids({2: "an answer that never changes has no older answer (the first query comes after the API "
                          "state is reached; an older answer needs >= 3 identical answers)",
                       26: "truncated UDP subsets are shuffled (loadbalance): no subset is given 3 times",
                       40: "as 026", 23: "its answers never change"})),
    Fault("right-then-wrong", "proxy", "right for the first 8 answers of a name, then one record short",
          "a server that degrades after start-up (a cache filling, a watch lost)",
          _ids({n: "the >= 20-poll hold asks again after answer 8: one record short (or NODATA); behind the proxy's "
                   "one address that is inside the settle window, so the case converges again and never does "
                   "(a FAIL at the deadline)" for n in
                (1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 30, 31,
                 32, 39, 41, 42)}),
          spares=_ids({4: "negative answers only", 19: "PTR answers are untouched",
                       27: "dns-version.<zone> is not under svc.<zone>",
                       40: "a truncated UDP subset one record shorter is still a subset with TC"})),
    Fault("answer-in-additional", "proxy", "per-endpoint-name A/AAAA records in the additional section",
          "records of the queried type in the wrong section",
          _ids(_pick(ENDPOINT_A, 6, 8, 9, 10, 11, 12, 20, 21, 22, 23, 30,
                     prefix="integrity 'section' (and the answer is empty): ")),
          spares=_ids({7: "those names are NXDOMAIN: nothing to move", 31: "NXDOMAIN: nothing to move",
                       13: "A records in an SRV answer's additional section are where they belong",
                       1: "Service names are untouched", 42: "the removed names are NXDOMAIN"}),
          slow=False),
    Fault("negative-without-soa", "proxy", "NXDOMAIN/NODATA answers without the zone's SOA",
          "negative answers a cache cannot hold (RFC 2308 section 3)",
          _ids(_pick(NEGATIVE, *NEGATIVE, prefix="integrity 'negative-soa': ")),
          spares=_ids({1: "its AAAA check exists only for a dual-stack ClusterIP Service; the suite's is IPv4",
                       8: "none_of(the old address) on a positive answer",
                       27: "a positive TXT answer", 19: "positive PTR answers"})),
    Fault("wrong-from-start", "proxy", "every A answer (kubernetes.default too) in the additional section",
          "a DNS server that is wrong from start-up; the run must go on (preflight exits 4 only for silence)",
          _ids(_pick(SVC_A, 1, 2, 5, 7, 10, 12, 17, 20, 21, 22, 23, 24, 25, 26, 31, 39, 42,
                     prefix="A records in additional: ")
               | _pick(ENDPOINT_A, 6, 11, 30, prefix="A records in additional: ")
               | {8: "A records in additional: web-0's answer is empty",
                  9: "A records in additional: web-2's answer is empty",
                  40: "A records in additional: integrity 'section' on the truncated UDP answers"}),
          spares=_ids({3: "AAAA answers are untouched", 4: "NXDOMAIN: nothing to move",
                       13: "SRV answers carry A records in additional legitimately", 14: "SRV only", 15: "SRV only",
                       16: "SRV only", 18: "SRV only", 32: "SRV only", 41: "SRV only", 19: "PTR only",
                       27: "TXT only"})),
    # --- one diverging replica (real pods)
    Fault("diverging-replica", "replica", "a third kube-dns replica without the reverse zones",
          "one CoreDNS replica on an old ConfigMap (a rollout or reload that reached some pods only)",
          _ids({19: "the bad replica (asked directly, and 1 in 3 through the Service) does not serve PTR; the FAIL "
                    "names it",
                23: "the PTR of m1 fails at the bad replica; the FAIL names it"}),
          spares=_ids({2: "the bad replica answers the cluster zone right: asking it directly must not FAIL",
                       13: "as 002 (SRV)", 28: "the search path goes through the Service and needs no PTR",
                       36: "INFO, never a FAIL"}),
          slow=False, mutation="no-reverse-zones"),
)

BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}
# `--ci` is every fault, each run targeted at the ids it lists (see runner.make_plan), what `make test` runs
# (scripts/selftest.sh, the runs packed by workers: runner.pick_next); `make faults` every fault over its whole
# scope (docs/faults.md "CI").


def select(names: str | None) -> list[Fault]:
    """Faults named in a comma-separated list (all when empty); unknown names raise ``KeyError``."""
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

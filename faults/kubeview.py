"""Read-only view of the API objects a few faults need (Service ports, every EndpointSlice endpoint).

A DNS proxy cannot know a Service's port or its not-ready endpoints from DNS alone; the faults that
emulate "SRV carries the Service port" and "not-ready endpoints are published" read them here, the
way a buggy DNS server would read them from the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class Endpoint:
    addresses: tuple[str, ...]
    hostname: str | None
    ready: bool
    ports: tuple[tuple[str, str, int], ...] = ()  # (name, protocol, port) of its slice


class ClusterView(Protocol):
    def service_ports(self, namespace: str, service: str) -> list[ServicePort] | None: ...

    def endpoints(self, namespace: str, service: str) -> list[Endpoint]: ...


class KubeView:
    """ClusterView backed by the Kubernetes API; answers are cached for ``max_age`` seconds."""

    def __init__(self, kubeconfig: str, context: str | None = None, max_age: float = 1.0) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig, context=context)
        self._core: Any = client.CoreV1Api(api)
        self._disc: Any = client.DiscoveryV1Api(api)
        self._max_age = max_age
        self._cache: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < self._max_age:
                return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def service_ports(self, namespace: str, service: str) -> list[ServicePort] | None:
        def load() -> list[ServicePort] | None:
            try:
                svc = self._core.read_namespaced_service(service, namespace, _request_timeout=5)
            except Exception:
                return None
            return [ServicePort(p.name or "", p.protocol or "TCP", int(p.port)) for p in (svc.spec.ports or [])]

        result: list[ServicePort] | None = self._cached(("svc", namespace, service), load)
        return result

    def endpoints(self, namespace: str, service: str) -> list[Endpoint]:
        def load() -> list[Endpoint]:
            try:
                slices = self._disc.list_namespaced_endpoint_slice(
                    namespace, label_selector=f"kubernetes.io/service-name={service}", _request_timeout=5).items
            except Exception:
                return []
            out: list[Endpoint] = []
            for sl in slices:
                ports = tuple((p.name or "", p.protocol or "TCP", int(p.port or 0)) for p in (sl.ports or []))
                for ep in sl.endpoints or []:
                    cond = ep.conditions
                    ready = bool(cond is None or cond.ready is None or cond.ready)
                    out.append(Endpoint(tuple(ep.addresses or ()), ep.hostname, ready, ports))
            return out

        result: list[Endpoint] = self._cached(("eps", namespace, service), load)
        return result

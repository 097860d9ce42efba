"""CLI: python -m localcluster up|down|status|env|build|restart."""

from __future__ import annotations

import argparse
import sys
import time

from . import cluster
from .build import BuildError, build_all
from .config import Settings
from .paths import cache_dir, run_dir
from .pki import PKIError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build what is missing, start the cluster, wait until healthy")
    p_up.add_argument("--nodes", type=_positive, default=2, help="number of KWOK nodes (default 2)")
    p_up.add_argument("--dual-stack", action="store_true", help="IPv4+IPv6 Service and pod ranges")
    p_up.add_argument("--dns-port", type=_port, default=None, help="fixed CoreDNS port on 127.0.0.1 (default: free)")
    p_up.add_argument("--cluster-domain", default="cluster.local")
    p_up.add_argument("--dns-ttl", type=int, default=5, help="CoreDNS kubernetes plugin ttl (default 5)")
    p_up.add_argument("--real-nodes", type=_count, default=1,
                      help="real kubelet nodes (containerd, CNI, kube-proxy) in the run's network namespace; "
                           "CoreDNS then runs as pods on them (default 1; 0 = KWOK-simulated nodes only)")
    p_up.add_argument("--dns-replicas", type=_positive, default=2, help="CoreDNS pods with real nodes (default 2)")
    sub.add_parser("down", help="stop every process by its PID and remove the run directory")
    sub.add_parser("status", help="health, PID and RSS of each component")
    sub.add_parser("env", help="print export lines for KUBECONFIG and HSDNS_DNS_SERVER")
    p_restart = sub.add_parser("restart", help="stop one control-plane process by its PID and start it again with "
                                               "the same command line; wait until healthy")
    p_restart.add_argument("component", choices=cluster.RESTARTABLE)
    sub.add_parser("push-images", help="build the missing real-node images and push them into the running "
                                       "cluster's registry (images added since `up`)")
    p_build = sub.add_parser("build", help="only build the missing binaries and images")
    p_build.add_argument("--no-images", action="store_true", help="binaries only (no real-node images)")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "build":
            for name, rec in build_all().items():
                print(f"{name:<12} {rec['version']:<8} prepare {rec['prepare_seconds']:>6}s  "
                      f"compile {rec['compile_seconds']:>6}s  sizes {rec['sizes_bytes']}")
            if not args.no_images:
                for name, tar in cluster.build_local_images(print).items():
                    print(f"image {name:<12} {tar}")
            print(f"cache: {cache_dir()}")
        elif args.cmd == "up":
            settings = Settings(nodes=args.nodes, cluster_domain=args.cluster_domain, dual_stack=args.dual_stack,
                                dns_ttl=args.dns_ttl, fixed_dns_port=args.dns_port, real_nodes=args.real_nodes,
                                dns_replicas=args.dns_replicas)
            t0 = time.monotonic()
            state = cluster.up(settings)
            print(f"local cluster up in {time.monotonic() - t0:.1f}s (components healthy in {state.up_seconds}s)")
            print(f"kubeconfig: {state.kubeconfig}")
            print(f"dns server: {state.dns_server}")
            print("use it:  eval \"$(python -m localcluster env)\"")
        elif args.cmd == "down":
            cluster.down()
        elif args.cmd == "push-images":
            for ref, pushed in cluster.push_local_images(print):
                print(f"{ref}\t{'pushed' if pushed else 'already there'}")
        elif args.cmd == "restart":
            old, new, secs = cluster.restart(args.component)
            print(f"restarted {args.component} (pid {old} -> {new}), healthy {secs}s after the stop")
        elif args.cmd in ("status", "env"):
            loaded = cluster.State.load(run_dir())
            if loaded is None:
                print("local cluster is not running (start it with: python -m localcluster up)", file=sys.stderr)
                return 1
            if args.cmd == "env":
                print("\n".join(cluster.env_lines(loaded)))
                return 0
            ok, lines = cluster.health_report(loaded)
            for line in lines:
                name = line.split()[0]
                pid = loaded.pids.get(name)
                rss = cluster.rss_kib(pid) if pid and cluster.pid_alive(pid, cluster.expect_of(name, loaded)) else 0
                print(f"{line:<60} rss {rss / 1024:7.1f} MiB" if pid else line)
            for node_line in cluster.node_lines(loaded):
                print(node_line)
            print(f"kubeconfig: {loaded.kubeconfig}\ndns server (host): {loaded.dns_server}")
            if loaded.image_registry:
                print(f"image registry (inside the network namespace {loaded.netns}): {loaded.image_registry}")
            return 0 if ok else 1
    except (cluster.ClusterError, BuildError, PKIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The diverging-replica fault's objects, built from the cluster's CoreDNS Deployment (no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest

from faults import replica
from localcluster.addons import coredns_deployment, corefile_in_cluster


def source() -> dict[str, Any]:
    d = coredns_deployment("10.253.0.2:5000/coredns:1.14.7", 2)
    d["metadata"].update({"uid": "x", "resourceVersion": "1"})
    d["status"] = {"replicas": 2}
    return d


def test_bad_deployment_joins_kube_dns_with_its_own_configmap() -> None:
    bad = replica.bad_deployment(source(), "reg:5000/coredns:1.14.7")
    assert bad["metadata"] == {"name": "coredns-bad", "namespace": "kube-system",
                               "labels": {"k8s-app": "kube-dns", "hsdns.io/fault": "coredns-bad"}}
    spec = bad["spec"]
    assert spec["replicas"] == 1 and "status" not in bad
    # the kube-dns Service selects k8s-app=kube-dns; the selector keeps the two Deployments apart
    assert spec["selector"]["matchLabels"] == {"k8s-app": "kube-dns", "hsdns.io/fault": "coredns-bad"}
    assert spec["template"]["metadata"]["labels"]["k8s-app"] == "kube-dns"
    pod = spec["template"]["spec"]
    assert pod["containers"][0]["image"] == "reg:5000/coredns:1.14.7"
    assert pod["volumes"][0]["configMap"]["name"] == "coredns-bad"
    assert pod["nodeSelector"] == {"hsdns.io/local-cluster": "real"}  # copied: the same nodes as the real ones
    assert source()["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "coredns"


def test_bad_configmap_applies_the_mutation() -> None:
    cm = replica.bad_configmap(corefile_in_cluster("cluster.local", 5, "1.14.7"), "no-reverse-zones")
    text = cm["data"]["Corefile"]
    assert "kubernetes cluster.local {" in text and "in-addr.arpa" not in text
    assert cm["metadata"]["annotations"]["hsdns.io/mutation"] == "no-reverse-zones"
    with pytest.raises(replica.ReplicaError):
        replica.bad_configmap(text, "nosuch")


@pytest.mark.parametrize(("src", "env", "want"), [
    ("10.253.0.2:5000/coredns:1.14.7", {"HSDNS_IMAGE_REGISTRY": "10.253.0.2:5000"}, "10.253.0.2:5000/coredns:1.14.7"),
    ("registry.k8s.io/coredns/coredns:v1.11.3", {"HSDNS_IMAGE_REGISTRY": "mirror:5000/"}, "mirror:5000/coredns:1.11.3"),
    ("registry.k8s.io/coredns/coredns:v1.11.3", {}, "registry.k8s.io/coredns/coredns:v1.11.3"),
])
def test_image(src: str, env: dict[str, str], want: str) -> None:
    assert replica.image_for(src, env) == want

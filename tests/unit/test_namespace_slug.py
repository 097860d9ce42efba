"""Namespace names of cases: the catalogue id's digits and the test function, never xdist's group suffix."""

from fixtures.kube.namespace import case_slug


def test_the_slug_drops_the_loadgroup_suffix_and_parameters() -> None:
    base = "conformance/test_scale.py::test_scaling_to_ten_and_back_converges_each_time"
    assert case_slug(base, "HS-DNS-042") == "042-scaling_to_ten_and_back_converges_each_time"
    assert case_slug(base + "@hsdns-scale", "HS-DNS-042") == case_slug(base, "HS-DNS-042")
    assert case_slug(base + "[ipv4]@hsdns-scale", None) == "scaling_to_ten_and_back_converges_each_time"

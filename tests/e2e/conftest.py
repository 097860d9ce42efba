"""What the e2e tests share: the cluster's kubeconfig (skip without one) and an API client for it."""

from __future__ import annotations

import os

import pytest
from kubernetes import client, config


def kubeconfig() -> str:
    """$KUBECONFIG, or skip: these tests run against the local cluster (scripts/with-local-cluster.sh)."""
    path = os.environ.get("KUBECONFIG")
    if not path:
        pytest.skip("KUBECONFIG is not set: run through scripts/with-local-cluster.sh")
    return path


@pytest.fixture(scope="module")
def api() -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig())

"""Seeded-fault self-test: a DNS proxy and misconfigured CoreDNS instances that break DNS on purpose.

The runner (``python -m faults run``) runs the conformance suite once healthy and once per fault and
checks that every fault turns exactly its listed catalogue ids into FAIL. See docs/faults.md.
"""

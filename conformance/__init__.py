"""The conformance cases: one test module per behaviour group; catalogue.yaml lists every behaviour id.

A package so that an installed suite runs as ``pytest --pyargs conformance`` / ``hsdns run``.
"""

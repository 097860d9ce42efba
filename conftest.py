"""Root conftest: loads the suite plugin (options, cluster facts, factories, resolver pods, verdicts)
and the reporting plugin (conformance.json, JUnit, Allure, HTML)."""

pytest_plugins = ["fixtures.plugin", "fixtures.reporting.plugin"]

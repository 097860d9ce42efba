"""INFO cases as the reports must see them: by catalogue level, by marker, and one that reports a failure."""

import pytest


@pytest.mark.case("HS-DNS-006")  # level INFO in the catalogue, no marker
def test_info_by_catalogue() -> None:
    pass


@pytest.mark.case("HS-DNS-007")  # not in the catalogue: only the marker says INFO
@pytest.mark.info
def test_info_by_marker() -> None:
    pass


@pytest.mark.case("HS-DNS-008")  # not in the catalogue either
@pytest.mark.info
def test_info_with_a_harness_error_in_its_body() -> None:
    raise RuntimeError("exec into the resolver pod failed")  # the fake conftest relabels it, as the suite does


@pytest.mark.case("HS-DNS-010")
@pytest.mark.info
def test_info_that_reports_a_failure() -> None:
    raise AssertionError("an INFO check tripped")

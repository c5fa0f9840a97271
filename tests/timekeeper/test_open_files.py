"""A worker raises its soft open-files limit for a burst's connections, up to the hard limit."""

from __future__ import annotations

import logging
import resource
from collections.abc import Iterator

import pytest

from timekeeper.open_files import raise_open_files_limit


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    """The process's limits, put back after the test (it lowers only the soft one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard != resource.RLIM_INFINITY and hard > 512, "needs a finite hard limit"
    yield soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_soft_limit_below_what_the_worker_may_hold_is_raised_to_the_hard_limit(
    limits: tuple[int, int],
) -> None:
    _, hard = limits
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert raise_open_files_limit(hard - 1) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)


def test_a_soft_limit_already_enough_is_left_as_it_is(limits: tuple[int, int]) -> None:
    _, hard = limits
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    assert raise_open_files_limit(512) == 512
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (512, hard)


def test_a_hard_limit_below_what_the_worker_may_hold_is_named_in_a_warning(
    limits: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, hard = limits
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    with caplog.at_level(logging.WARNING, logger="timekeeper.open_files"):
        assert raise_open_files_limit(hard + 1) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    assert caplog.messages == [
        f"open files limited to {hard} (hard limit), fewer than the {hard + 1} this worker may"
        " hold; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower"
        " TIMEKEEPER_DISPATCH_MAX_PER_TICK"
    ]

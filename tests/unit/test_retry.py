"""Retry policy: full-jitter backoff with a cap, a total time bound per streak, and what is worth retrying."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from ddb_restore.errors import RetryBoundExceeded
from ddb_restore.retry import RereadPolicy, RetryPolicy, classify
from support.clock import FakeClock


def policy(fake: FakeClock, *, rand: float = 1.0, **options: Any) -> RetryPolicy:
    return RetryPolicy(rand=lambda: rand, clock=fake, **options)


def client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "R"},
    }
    return ClientError(response, "BatchWriteItem")


# --- delay ----------------------------------------------------------------------------------------------------


def test_the_delay_grows_exponentially_up_to_the_cap_when_jitter_draws_its_maximum() -> None:
    retry = RetryPolicy(base=0.05, cap=1.0, rand=lambda: 1.0, clock=FakeClock())
    assert [retry.delay(n) for n in range(7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_the_delay_is_full_jitter_a_random_share_of_the_exponential_step() -> None:
    draws = iter([0.0, 0.5, 0.25])
    retry = RetryPolicy(base=1.0, cap=100.0, rand=lambda: next(draws), clock=FakeClock())
    assert retry.delay(3) == 0.0
    assert retry.delay(3) == pytest.approx(4.0)
    assert retry.delay(3) == pytest.approx(2.0)


def test_the_delay_stays_capped_for_huge_attempt_numbers() -> None:
    retry = RetryPolicy(base=0.05, cap=10.0, rand=lambda: 0.999, clock=FakeClock())
    assert retry.delay(10_000) == pytest.approx(9.99)


def test_the_default_jitter_stays_within_zero_and_the_step() -> None:
    retry = RetryPolicy(base=0.5, cap=3.0, clock=FakeClock())
    delays = [retry.delay(n) for n in range(10) for _ in range(20)]
    assert all(0.0 <= d < 3.0 for d in delays)
    assert len(set(delays)) > 100  # actually random


# --- streaks --------------------------------------------------------------------------------------------------


def test_a_streak_sleeps_the_policy_delays_in_order() -> None:
    fake = FakeClock(50.0)
    streak = policy(fake, base=1.0, cap=10.0, max_total=1000.0).streak()
    for _ in range(6):
        streak.wait("throttled")
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_streak_gives_up_before_passing_its_total_bound() -> None:
    fake = FakeClock(50.0)
    streak = policy(fake, base=1.0, cap=10.0, max_total=30.0).streak()
    with pytest.raises(RetryBoundExceeded) as info:
        for _ in range(100):
            streak.wait("ThrottlingException: slow down")
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0]  # 25 s slept; 10 more would pass 30
    text = str(info.value)
    assert "25 s" in text and "limit 30 s" in text and "ThrottlingException: slow down" in text


def test_time_spent_between_waits_counts_toward_the_bound() -> None:
    fake = FakeClock(50.0)
    streak = policy(fake, base=1.0, cap=10.0, max_total=30.0).streak()
    streak.wait("first")
    fake.now += 29.5  # the failing calls themselves took long
    with pytest.raises(RetryBoundExceeded):
        streak.wait("second")


def test_progress_starts_the_streak_over_with_the_first_delay_and_a_fresh_bound() -> None:
    fake = FakeClock(50.0)
    streak = policy(fake, base=1.0, cap=10.0, max_total=30.0).streak()
    for _ in range(5):
        streak.wait("unprocessed")
    streak.progress()
    assert streak.attempt == 0
    for _ in range(5):
        streak.wait("unprocessed")  # 25 more seconds: allowed, the bound counts from the progress
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0] * 2
    with pytest.raises(RetryBoundExceeded):
        streak.wait("unprocessed")


def test_each_streak_of_a_policy_is_independent() -> None:
    fake = FakeClock(50.0)
    retry = policy(fake, base=1.0, cap=10.0, max_total=30.0)
    first = retry.streak()
    for _ in range(5):
        first.wait("x")
    second = retry.streak()
    second.wait("y")
    assert fake.sleeps[-1] == 1.0


def test_another_writers_progress_starts_the_backoff_over_but_not_the_time_bound() -> None:
    """Writers sharing a policy share its fleet: one throttled while another gets through waits the first step
    again (the table has capacity, just not for everyone at once), but its own bound keeps counting."""
    fake = FakeClock(50.0)
    retry = policy(fake, base=1.0, cap=10.0, max_total=30.0)
    throttled, lucky = retry.streak(), retry.streak()
    for _ in range(4):
        throttled.wait("throttled")  # 1 + 2 + 4 + 8 = 15 s
    lucky.progress()
    throttled.wait("throttled")
    throttled.wait("throttled")
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 1.0, 2.0]
    lucky.progress()
    throttled.wait("throttled")  # 18 s + 1
    with pytest.raises(RetryBoundExceeded):  # none of its own for 19 s: 2 and 4 more (25 s), then 8 would pass 30
        for _ in range(3):
            throttled.wait("throttled")
    assert fake.sleeps[-3:] == [1.0, 2.0, 4.0]


def test_writers_with_their_own_policies_do_not_share_progress() -> None:
    fake = FakeClock(50.0)
    alone = policy(fake, base=1.0, cap=10.0, max_total=1000.0).streak()
    other = policy(fake, base=1.0, cap=10.0, max_total=1000.0).streak()
    for _ in range(3):
        alone.wait("throttled")
    other.progress()
    alone.wait("throttled")
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0]


# --- classify -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling"],
)
def test_throttling_codes_are_throttles(code: str) -> None:
    assert classify(client_error(code, 400)) == "throttle"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("BadGateway", 502),
        ("", 504),
    ],
)
def test_server_errors_are_worth_a_retry(code: str, status: int) -> None:
    assert classify(client_error(code, status)) == "server"


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ItemCollectionSizeLimitExceededException",
    ],
)
def test_client_errors_are_not_retried(code: str) -> None:
    assert classify(client_error(code, 400)) is None


def test_a_client_error_without_metadata_is_not_retried() -> None:
    assert classify(ClientError({"Error": {"Code": "ValidationException"}}, "BatchWriteItem")) is None


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
    ids=["endpoint-connection", "connection-closed", "read-timeout"],
)
def test_connection_errors_are_worth_a_retry(error: Exception) -> None:
    assert classify(error) == "server"


def test_a_connect_timeout_is_connection_trouble_worth_a_retry() -> None:
    assert classify(ConnectTimeoutError(endpoint_url="http://127.0.0.1:1")) == "server"


@pytest.mark.parametrize("error", [NoCredentialsError(), ValueError("bug"), KeyError("x")])
def test_other_errors_are_not_retried(error: Exception) -> None:
    assert classify(error) is None


# --- re-reads of a data file whose stream broke --------------------------------------------------------------


def test_a_broken_read_waits_twice_as_long_each_time_then_gives_the_file_up() -> None:
    rereads = RereadPolicy()
    assert [rereads.delay(n) for n in range(1, 6)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    assert rereads.delay(6) is None


def test_the_reread_wait_stays_capped() -> None:
    assert RereadPolicy(attempts=100, cap=5.0).delay(99) == 5.0

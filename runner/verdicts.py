"""How an attempt ends an invocation, or lets the next one follow: pure, shared by the workflow's
retry loop and by the local activity that makes a run's first attempt (and closes the invocation
in the same transaction when that attempt is the last)."""

from runner.models import AttemptOutcome


def after_attempt(
    outcome: AttemptOutcome, attempt: int, last: int, made: int
) -> tuple[str, str | None] | None:
    """The invocation's terminal status and reason after attempt number `attempt` (of at most
    `last`, the `made`-th this run), or None when another attempt is due."""
    if outcome.ok:
        return "completed", None
    failure = f"{outcome.error_class}: {outcome.error_message}"
    if not outcome.retryable:
        return "failed", failure
    if attempt >= last:
        tries = f"{made} attempt" if made == 1 else f"{made} attempts"
        return "failed", f"gave up after {tries}; last {failure}"
    return None

"""AlertWorkflow: post one alert, retried with backoff, then record that it was given up."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from alerts.activities import AlertActivities
    from alerts.models import ALERT_WORKFLOW, AlertInput, GiveUpInput

# About 20 minutes of retries: long enough for an endpoint's restart, short enough to be news.
_POST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
)
_STORE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=30)


@workflow.defn(name=ALERT_WORKFLOW)
class AlertWorkflow:
    @workflow.run
    async def run(self, input: AlertInput) -> str:
        try:
            await workflow.execute_activity_method(
                AlertActivities.post_alert,
                input,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_POST_RETRY,
            )
        except ActivityError as exc:
            cause = str(exc.cause) if exc.cause is not None else str(exc)
            await workflow.execute_activity_method(
                AlertActivities.give_up_alert,
                GiveUpInput(input.delivery_id, cause),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_STORE_RETRY,
            )
            return "failed"
        return "delivered"

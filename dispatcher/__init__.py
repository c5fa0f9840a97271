"""The scheduler: SchedulerWorkflow, the dispatch tick, and starting the scheduler.

Kept free of imports: Temporal's sandbox re-runs this file when it loads the workflow module.
"""

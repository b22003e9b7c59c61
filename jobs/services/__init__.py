"""Every write of jobs. `progress`: a run's progress (the one advance service); `lifecycle`:
create, claim, cancel, retry; `upkeep`: the reaper and pruning."""

from jobs.services.lifecycle import (
    claim_run,
    create_job,
    request_cancel,
    retry_job,
    validate_params,
)
from jobs.services.progress import Run
from jobs.services.upkeep import prune_finished_jobs, reap_stale_jobs

__all__ = [
    "Run",
    "claim_run",
    "create_job",
    "prune_finished_jobs",
    "reap_stale_jobs",
    "request_cancel",
    "retry_job",
    "validate_params",
]

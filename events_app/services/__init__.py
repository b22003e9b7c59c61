"""Every write of the events app: catalogue, runs and voids, deliveries, and what they publish.

The concurrency rule: every write that changes an event's figures (a run, a void, a target,
a delivery) first locks that event's row (`lock_event`). Writes to one event therefore run one
after the other, each seeing everything committed before it: that is what keeps assembly from
consuming more than was produced and marks a target completed exactly once. Different events
never wait for each other.
"""

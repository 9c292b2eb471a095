"""Messages every process uses."""

from __future__ import annotations

from pydantic import BaseModel


class ActivityLimits(BaseModel):
    """How a workflow calls its activities (per API call): every workflow's options start with these,
    chosen by the starter from settings (``temporal_client.limits.activity_limits``)."""

    activity_timeout_seconds: float = 30.0
    activity_max_attempts: int = 10
    activity_max_interval_seconds: float = 60.0


# --- any activity -------------------------------------------------------------------------------------------
class Written(BaseModel):
    """A write that returns nothing worth keeping but proof it happened."""

    record_id: str


class LoadMapping(BaseModel):
    pass

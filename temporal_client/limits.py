"""The activity limits every workflow's options carry, from settings: one place for all starters."""

from __future__ import annotations

from q2c.config import Settings


def activity_limits(settings: Settings) -> dict[str, float | int]:
    """``ActivityLimits``' fields from settings, to build any workflow's options with ``**``."""
    return {
        "activity_timeout_seconds": settings.activity_timeout_seconds,
        "activity_max_attempts": settings.activity_max_attempts,
        "activity_max_interval_seconds": settings.activity_max_interval_seconds,
    }

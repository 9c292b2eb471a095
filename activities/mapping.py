"""Reading the mapping file, as an activity so the workflow sees its content through history (and a
fixed mapping file takes effect on the next retry without redeploying)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.errors import BusinessError, business_error
from q2c.domain.mapping import Mapping, MappingError, load_mapping
from q2c.domain.messages import LoadMapping


class MappingActivities:
    def __init__(self, path: Path | None) -> None:
        self._path = path

    @activity.defn(name="load_mapping")
    async def load_mapping(self, request: LoadMapping) -> Mapping:
        try:
            return load_mapping(self._path)
        except MappingError as exc:
            raise business_error(BusinessError.MAPPING_INVALID, str(exc)) from None

"""Reading the mapping file, as an activity so the workflow sees its content through history (and a
fixed mapping file takes effect on the next retry without redeploying)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from temporalio import activity

from activities.errors import BusinessError, business_error
from q2c.domain.mapping import Mapping, MappingError, load_mapping
from q2c.domain.messages import LoadMapping
from workflows import names


class MappingActivities:
    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, path: Path | None, metadata: Path | None = None) -> None:
        self._path = path
        self._metadata = metadata  # the SFDX/SDF projects the mapping is checked against

    @activity.defn(name="load_mapping")
    async def load_mapping(self, request: LoadMapping) -> Mapping:
        try:
            return load_mapping(self._path, metadata=self._metadata)
        except MappingError as exc:
            raise business_error(BusinessError.MAPPING_INVALID, str(exc)) from None

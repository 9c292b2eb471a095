"""Messages every process uses."""

from __future__ import annotations

from pydantic import BaseModel


# --- any activity -------------------------------------------------------------------------------------------
class Written(BaseModel):
    """A write that returns nothing worth keeping but proof it happened."""

    record_id: str


class LoadMapping(BaseModel):
    pass

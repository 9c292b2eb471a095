"""The declarative mapping file: loading and validating it, with errors that name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_MAPPING_PATH = Path(__file__).with_name("mapping.toml")


class CurrencyMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subsidiary: str = Field(min_length=1)
    netsuite_currency: str = Field(min_length=1)


class CustomerMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_name_max_length: int = Field(default=83, ge=1)


class SalesOrderMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opportunity_field: str = Field(default="custbody_sf_opportunity_id", pattern=r"^custbody_\w+$")


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currencies: dict[str, CurrencyMapping] = Field(default_factory=dict)
    customer: CustomerMapping = Field(default_factory=CustomerMapping)
    sales_order: SalesOrderMapping = Field(default_factory=SalesOrderMapping)


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the file, the field and the problem."""


def load_mapping(path: Path | None = None) -> Mapping:
    path = path or DEFAULT_MAPPING_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"mapping file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {path} is not valid TOML: {exc}") from exc
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise MappingError(f"mapping file {path}: {problems}") from exc

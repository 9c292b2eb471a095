"""Salesforce's error shapes: ``[{"message","errorCode","fields"}]`` for the REST API."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

NOT_FOUND_MESSAGE = "The requested resource does not exist"


class ApiError(Exception):
    """An error Salesforce would answer with an HTTP status and an error list."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def collection_error(self) -> dict[str, Any]:
        """The per-record shape inside sObject Collections results (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(code: str, message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, code, message, fields if fields is not None else [])


def not_found(message: str = NOT_FOUND_MESSAGE) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def invalid_field(field: str, sobject: str) -> ApiError:
    return bad_request(
        "INVALID_FIELD",
        f"No such column '{field}' on sobject of type {sobject}",
        [field],
    )


async def read_json(request: Request) -> Any:
    """The request's JSON body, or the JSON_PARSER_ERROR Salesforce answers for a missing or bad one."""
    raw = await request.body()
    if not raw.strip():
        raise bad_request(
            "JSON_PARSER_ERROR",
            "The HTTP entity body is required, but this request has no entity body.",
            None,
        )
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(
            "JSON_PARSER_ERROR", f"Unexpected character in the request body: {exc}", None
        ) from None

"""CSV as Bulk API 2.0 reads and writes it: the job's column delimiter and line ending, uploads parsed into
a header and rows (or the job-failing error a real org gives), and result files written with every value
in double quotes and nulls as empty cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class BatchError(Exception):
    """Upload content a real org refuses as a whole: the job ends Failed with this ``errorMessage``."""


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str  # a DELIMITERS key
    line_ending: str  # a LINE_ENDINGS key

    @property
    def sep(self) -> str:
        return DELIMITERS[self.delimiter]

    @property
    def eol(self) -> str:
        return LINE_ENDINGS[self.line_ending]


def parse_upload(data: bytes, fmt: CsvFormat) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one uploaded CSV file; BatchError for what fails the whole job."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError(f"ClientInputError : The data is not valid UTF-8: {exc}") from None
    text = text.removeprefix("\ufeff")
    first_eol = text.find("\n")
    if first_eol != -1:
        crlf = first_eol > 0 and text[first_eol - 1] == "\r"
        if crlf != (fmt.line_ending == "CRLF"):
            raise BatchError(
                f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
                f"{fmt.line_ending}"
            )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.sep, quotechar='"', strict=True)
    try:
        lines = [row for row in reader if row]
    except csv.Error as exc:
        raise BatchError(
            f"ClientInputError : Unable to parse the CSV data (line {reader.line_num}): {exc}"
        ) from None
    if not lines:
        raise BatchError("InvalidBatch : The uploaded data has no header row")
    header, rows = lines[0], lines[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise BatchError(
                f"InvalidBatch : Wrong number of columns in row {number}: expected {len(header)}, found "
                f"{len(row)}. Check the columnDelimiter ({fmt.delimiter}) and the quoting of values"
            )
    return header, rows


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def header_cell(name: str, sep: str) -> str:
    """A column name echoed from an upload: as written, quoted only when it has to be."""
    if any(ch in name for ch in (sep, '"', "\n", "\r")):
        return quoted(name)
    return name


def join_cells(cells: Iterable[str | None], sep: str) -> str:
    """One output row: values quoted, ``None`` as an empty cell."""
    return sep.join("" if cell is None else quoted(cell) for cell in cells)


def render_value(value: Any, field_type: str) -> str | None:
    """A field's stored value as Bulk API 2.0 query results print it (``None`` for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if field_type == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"  # 2026-01-05T10:00:00.000+0000 -> 2026-01-05T10:00:00.000Z
    if isinstance(value, float) and field_type == "int" and value.is_integer():
        return str(int(value))
    return str(value)

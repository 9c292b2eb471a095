"""SOQL text to syntax tree: a tokenizer and a recursive-descent parser.

Only syntax is checked here; whether objects and fields exist is decided against the schema by
``soql_eval``. Errors carry the character offset so messages can point at the offending token the way
Salesforce's do (``ERROR at Row:1:Column:29``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from q2c_sandbox.salesforce.errors import ApiError

KEYWORDS = frozenset(
    """SELECT FROM WHERE AND OR NOT IN LIKE ORDER BY LIMIT OFFSET NULL TRUE FALSE ASC DESC NULLS FIRST
    LAST GROUP HAVING INCLUDES EXCLUDES WITH USING FOR""".split()
)
COMPARISON_OPS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})

_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
_TOKEN_RES: list[tuple[str, re.Pattern[str]]] = [
    ("WS", re.compile(r"\s+")),
    ("DATETIME", re.compile(_DATETIME)),
    ("DATE", re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")),
    ("NUMBER", re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![A-Za-z_])")),
    ("IDENT", re.compile(r"[A-Za-z_][A-Za-z0-9_]*")),
    ("OP", re.compile(r"!=|<>|<=|>=|=|<|>")),
    ("PUNCT", re.compile(r"[(),.:]")),
]


def position_message(text: str, pos: int, detail: str) -> str:
    """Salesforce's query error layout: the query line, a caret, the row/column, then the problem."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start
    return f"\n{line}\n{' ' * col}^\nERROR at Row:{row}:Column:{col + 1}\n{detail}"


def malformed(text: str, pos: int, detail: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", position_message(text, pos, detail))


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING NUMBER DATE DATETIME OP PUNCT EOF
    text: str  # as written (strings: without quotes, escapes decoded)
    pos: int
    raw: str = ""  # strings: the text between the quotes, escapes intact (LIKE needs \_ and \%)

    @property
    def upper(self) -> str:
        return self.text.upper()

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.upper in words

    def shown(self) -> str:
        return "<EOF>" if self.kind == "EOF" else (f"'{self.raw}'" if self.kind == "STRING" else self.text)


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _read_string(text: str, start: int) -> tuple[Token, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "_%":
                out.append(nxt)
            else:
                raise malformed(
                    text, i, f"Invalid string literal '{text[start : i + 2]}'. Illegal escape sequence"
                )
            i += 2
            continue
        if ch == "'":
            return Token("STRING", "".join(out), start, text[start + 1 : i]), i + 1
        out.append(ch)
        i += 1
    raise malformed(text, start, f"unexpected token: {text[start:]} (unterminated string)")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        if text[i] == "'":
            token, i = _read_string(text, i)
            tokens.append(token)
            continue
        for kind, pattern in _TOKEN_RES:
            m = pattern.match(text, i)
            if m:
                if kind != "WS":
                    tokens.append(Token(kind, m.group(0), i))
                i = m.end()
                break
        else:
            raise malformed(text, i, f"unexpected token: {text[i]}")
    tokens.append(Token("EOF", "", len(text)))
    return tokens


# ---- syntax tree -----------------------------------------------------------------------------------


@dataclass
class FieldRef:
    path: list[str]
    pos: int

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass
class Literal:
    kind: str  # string number date datetime null boolean date_literal
    value: Any
    pos: int
    raw: str = ""
    n: int | None = None  # date literals with a parameter (LAST_N_DAYS:n)


@dataclass
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Literal | list[Literal]
    pos: int


@dataclass
class BoolOp:
    op: str  # AND | OR
    items: list[Condition]


@dataclass
class Not:
    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool | None = None


@dataclass
class Count:
    field: FieldRef | None  # COUNT() has none
    pos: int


@dataclass
class Query:
    select: list[FieldRef | Query | Count]
    sobject: str
    sobject_pos: int
    pos: int = 0
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# ---- parser ----------------------------------------------------------------------------------------


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "EOF":
            self.i += 1
        return token

    def error(self, token: Token | None = None) -> ApiError:
        token = token or self.tok
        return malformed(self.text, token.pos, f"unexpected token: {token.shown()}")

    def expect_keyword(self, word: str) -> Token:
        if not self.tok.is_keyword(word):
            raise self.error()
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
        if not (self.tok.kind == "PUNCT" and self.tok.text == ch):
            raise self.error()
        return self.advance()

    def at_punct(self, ch: str) -> bool:
        return self.tok.kind == "PUNCT" and self.tok.text == ch

    def parse(self) -> Query:
        query = self.query()
        if self.tok.kind != "EOF":
            raise self.error()
        return query

    def query(self) -> Query:
        start = self.expect_keyword("SELECT")
        select = self.select_list()
        self.expect_keyword("FROM")
        name = self.identifier()
        query = Query(select, name.text, name.pos, pos=start.pos)
        if self.tok.is_keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.tok.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = self.order_list()
        if self.tok.is_keyword("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.tok.is_keyword("OFFSET"):
            self.advance()
            query.offset = self.integer()
        return query

    def identifier(self) -> Token:
        if self.tok.kind != "IDENT" or self.tok.upper in KEYWORDS:
            raise self.error()
        return self.advance()

    def integer(self) -> int:
        token = self.tok
        if token.kind != "NUMBER" or not token.text.isdigit():
            raise self.error()
        self.advance()
        return int(token.text)

    def select_list(self) -> list[FieldRef | Query | Count]:
        items: list[FieldRef | Query | Count] = [self.select_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.select_item())
        return items

    def select_item(self) -> FieldRef | Query | Count:
        if self.at_punct("("):
            self.advance()
            sub = self.query()
            self.expect_punct(")")
            return sub
        if self.tok.kind == "IDENT" and self.tok.upper == "COUNT" and self.peek_punct("("):
            start = self.advance()
            self.advance()
            counted = None if self.at_punct(")") else self.field_ref()
            self.expect_punct(")")
            return Count(counted, start.pos)
        return self.field_ref()

    def peek_punct(self, ch: str) -> bool:
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else self.tokens[-1]
        return nxt.kind == "PUNCT" and nxt.text == ch

    def field_ref(self) -> FieldRef:
        first = self.identifier()
        path = [first.text]
        while self.at_punct("."):
            self.advance()
            path.append(self.identifier().text)
        return FieldRef(path, first.pos)

    def order_list(self) -> list[OrderItem]:
        items = [self.order_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.order_item())
        return items

    def order_item(self) -> OrderItem:
        item = OrderItem(self.field_ref())
        if self.tok.is_keyword("ASC", "DESC"):
            item.descending = self.advance().upper == "DESC"
        if self.tok.is_keyword("NULLS"):
            self.advance()
            if not self.tok.is_keyword("FIRST", "LAST"):
                raise self.error()
            item.nulls_last = self.advance().upper == "LAST"
        return item

    # SOQL does not let AND and OR mix without parentheses, so a chain is homogeneous.
    def condition(self) -> Condition:
        first = self.unary()
        if not (self.tok.is_keyword("AND", "OR")):
            return first
        op = self.tok.upper
        items = [first]
        while self.tok.is_keyword("AND", "OR"):
            if self.tok.upper != op:
                raise self.error()
            self.advance()
            items.append(self.unary())
        return BoolOp(op, items)

    def unary(self) -> Condition:
        if self.tok.is_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        ref = self.field_ref()
        token = self.tok
        if token.kind == "OP":
            self.advance()
            return Comparison(ref, token.text, self.literal(), token.pos)
        if token.is_keyword("LIKE"):
            self.advance()
            value = self.literal()
            if value.kind not in ("string", "null"):
                raise self.error(self.tokens[self.i - 1])
            return Comparison(ref, "LIKE", value, token.pos)
        if token.is_keyword("IN") or token.is_keyword("NOT"):
            op = "IN"
            if token.is_keyword("NOT"):
                self.advance()
                op = "NOT IN"
                if not self.tok.is_keyword("IN"):
                    raise self.error()
            self.advance()
            self.expect_punct("(")
            values = [self.literal()]
            while self.at_punct(","):
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(ref, op, values, token.pos)
        raise self.error()

    def literal(self) -> Literal:
        token = self.tok
        if token.kind == "STRING":
            self.advance()
            return Literal("string", token.text, token.pos, token.raw)
        if token.kind == "NUMBER":
            self.advance()
            number = float(token.text)
            return Literal(
                "number", int(number) if number.is_integer() and "." not in token.text else number, token.pos
            )
        if token.kind == "DATE":
            self.advance()
            return Literal("date", token.text, token.pos)
        if token.kind == "DATETIME":
            self.advance()
            return Literal("datetime", token.text, token.pos)
        if token.kind == "IDENT":
            word = token.upper
            if word == "NULL":
                self.advance()
                return Literal("null", None, token.pos)
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", token.pos)
            if word not in KEYWORDS:
                self.advance()
                n = None
                if self.at_punct(":"):
                    self.advance()
                    n = self.integer()
                return Literal("date_literal", word, token.pos, n=n)
        raise self.error()


def parse_soql(text: str) -> Query:
    return Parser(text).parse()

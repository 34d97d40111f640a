"""Approval-gate conditions: the small language of a SOP step's ``when``.

A gate is a step that is required only where a condition on the conversation's
``metadata`` holds (``supervisor_approval`` where ``amount > 200``). The condition is
data, parsed here without ``eval``: comparisons ``field op literal`` with ``op`` one of
``> >= < <= == !=``, the literal a number or a quoted string, joined by ``and``/``or``
(``and`` binds tighter, keywords in any case) with optional parentheses; ``field`` is a
metadata key, dotted for nested keys (``order.total > 50``). A number literal compares
the field as a number (a field that is not a number cannot be evaluated), a string
literal compares its text. Evaluation is three-valued: a field that is absent or cannot
be read makes its comparison unknown (null), and ``and``/``or`` follow Kleene's logic.

:func:`pipeline.sops.model.parse_sop` rejects a ``when`` that does not parse, and
:func:`pipeline.drift.conformance.check_conformance` evaluates the conditions over the
conversations as polars expressions (:func:`condition_expr`), never per row in Python.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import polars as pl

from pipeline.errors import SopError

_OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<string>"[^"]*"|'[^']*')
      | (?P<op>>=|<=|==|!=|>|<)
      | (?P<paren>[()])
      | (?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = ("and", "or")
_SYNTAX = (
    "expected a condition like `amount > 200` (field op literal, op one of > >= < <= == !=, "
    "text literals quoted), joined by and/or"
)


@dataclass(frozen=True)
class Comparison:
    """``field op value``: one comparison of a metadata field with a literal."""

    field: str
    op: str
    value: float | str


@dataclass(frozen=True)
class Junction:
    """Comparisons or junctions joined by one boolean operator (``and`` / ``or``)."""

    op: str
    parts: tuple[Comparison | Junction, ...]


Condition = Comparison | Junction


def parse_condition(text: str) -> Condition:
    """Parse a ``when`` condition of the gate language (see the module docstring).

    Parameters
    ----------
    text
        The condition, e.g. ``"amount > 200 and (tier == 'gold' or region != 'eu')"``.

    Returns
    -------
    Comparison or Junction
        The condition tree.

    Raises
    ------
    SopError
        The text is not a condition; the message names the condition and the problem.
    """
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    condition = parser.disjunction()
    if parser.pos < len(tokens):
        parser.fail(f"unexpected {tokens[parser.pos][1]!r}")
    return condition


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SopError(f"condition {text!r}: cannot read {text[pos:].strip()!r}; {_SYNTAX}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value.lower() in _KEYWORDS:
            kind = value.lower()
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent: disjunction := conjunction (or conjunction)*, and so on down."""

    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        self.text, self.tokens, self.pos = text, tokens, 0

    def fail(self, problem: str) -> NoReturn:
        raise SopError(f"condition {self.text!r}: {problem}; {_SYNTAX}")

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str, what: str) -> str:
        if self.peek() != kind:
            found = repr(self.tokens[self.pos][1]) if self.pos < len(self.tokens) else "the end"
            self.fail(f"expected {what}, found {found}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def disjunction(self) -> Condition:
        return self._junction("or", self.conjunction)

    def conjunction(self) -> Condition:
        return self._junction("and", self.operand)

    def _junction(self, keyword: str, part: Callable[[], Condition]) -> Condition:
        parts = [part()]
        while self.peek() == keyword:
            self.pos += 1
            parts.append(part())
        return parts[0] if len(parts) == 1 else Junction(keyword, tuple(parts))

    def operand(self) -> Condition:
        if self.peek() == "paren" and self.tokens[self.pos][1] == "(":
            self.pos += 1
            inner = self.disjunction()
            if self.peek() != "paren" or self.tokens[self.pos][1] != ")":
                self.fail("expected ')'")
            self.pos += 1
            return inner
        field = self.take("name", "a field name")
        op = self.take("op", f"a comparison operator after {field!r}")
        kind = self.peek()
        if kind == "number":
            value: float | str = float(self.take("number", "a literal"))
        else:
            value = self.take("string", "a number or a quoted string")[1:-1]
        return Comparison(field, op, value)


def condition_fields(condition: Condition) -> set[str]:
    """Return the metadata fields a condition reads."""
    if isinstance(condition, Comparison):
        return {condition.field}
    return set().union(*(condition_fields(p) for p in condition.parts))


def condition_expr(condition: Condition, columns: Mapping[str, str]) -> pl.Expr:
    """Return a polars boolean expression of the condition, null where it is unknown.

    Parameters
    ----------
    condition
        A parsed condition.
    columns
        Field name -> the frame column holding the field's value as text (null where
        absent).

    Returns
    -------
    polars.Expr
        Kleene logic: ``unknown and false`` is false, ``unknown or true`` is true.
    """
    if isinstance(condition, Junction):
        combine = operator.and_ if condition.op == "and" else operator.or_
        return functools.reduce(combine, (condition_expr(p, columns) for p in condition.parts))
    field = pl.col(columns[condition.field])
    if isinstance(condition.value, float):
        field = field.cast(pl.Float64, strict=False)
    return _OPS[condition.op](field, pl.lit(condition.value))

"""Alertmanager-style label matchers: ``user_id=alice``, ``model=~gpt-5.*``. No IO.

Four operators, as in Prometheus Alertmanager: ``=`` (equal), ``!=`` (not
equal), ``=~`` (the regular expression matches the whole value) and ``!~``
(it does not). A label an alert lacks has the value ``""``, so
``team!=finance`` matches an alert without a ``team`` label and ``team=``
matches only such alerts. A set of matchers matches when every one does.

Regular expressions are Python's ``re`` syntax, anchored at both ends (as
Alertmanager anchors RE2), and checked when the matcher is parsed so that a
typo is refused on the command line, not discovered at delivery.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LABEL_NAME", "Matcher", "Operator", "matches_all", "parse_matcher"]

#: Label names: what Prometheus allows.
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_PATTERN = 1000
# Longest operators first, so "=~" is not read as "=" followed by "~...".
_SPLIT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class Operator(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label."""

    name: str
    operator: Operator
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not a label name")
        if self.operator in (Operator.REGEX, Operator.NOT_REGEX):
            if len(self.value) > _MAX_PATTERN:
                raise ValueError(f"the pattern of {self.name} is longer than {_MAX_PATTERN}")
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.name}: bad regular expression ({exc})") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.operator is Operator.EQUAL:
            return value == self.value
        if self.operator is Operator.NOT_EQUAL:
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.operator is Operator.REGEX else not found

    def __str__(self) -> str:
        return f"{self.name}{self.operator.value}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """``name<op>value``; the value may be quoted (``team="data science"``)."""
    found = _SPLIT.match(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not a matcher: expected name=value, name!=value,"
            " name=~regex or name!~regex"
        )
    name, operator, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return Matcher(name, Operator(operator), value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)

"""Azure OpenAI meter names -> model, deployment type and token category (pure).

Cost Management reports Azure OpenAI spend per *meter* (``MeterName``), and the
meter name is the only place that says which model, which deployment type
(global, data zone, regional, batch, provisioned) and which token category a
charge is for. Microsoft writes them inconsistently (``gpt-4o-0513 Input global
Tokens``, ``gpt 4o 0806 Inp glbl Tokens``, ``GPT-4o-mini-0718-Input-DZone``,
``o3-mini 0131 cached Inp regnl Tokens``), so :func:`parse_meter` reads words,
not one pattern: the words that name a category or a deployment type are taken
out, unit words (``Tokens``, ``1K``, ``1M``) dropped, and the rest is the model
without its version (``gpt-4o``; the meter name, kept as the line item, has it).

A meter whose name carries no category word (a provisioned-throughput unit, a
fine-tuning hosting hour, a meter Microsoft invents next month) is kept: its
:class:`Meter` has ``category`` :data:`OTHER` and the whole name as model text
is *not* guessed (``model`` is ""); the billed money is recorded as a line item
under its meter name either way, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CACHED_INPUT",
    "CATEGORIES",
    "DEPLOYMENTS",
    "INPUT",
    "OTHER",
    "OUTPUT",
    "Meter",
    "parse_meter",
]

INPUT = "input"
CACHED_INPUT = "cached input"
OUTPUT = "output"
OTHER = "other"
CATEGORIES = (INPUT, CACHED_INPUT, OUTPUT, OTHER)

#: Word (lower case) -> token category. ``cached`` qualifies ``input``.
_CATEGORY_WORDS = {
    "input": INPUT,
    "inp": INPUT,
    "in": INPUT,
    "prompt": INPUT,
    "output": OUTPUT,
    "outp": OUTPUT,
    "out": OUTPUT,
    "completion": OUTPUT,
}
_CACHED_WORDS = frozenset({"cached", "cchd", "cache", "cch", "cached-input"})
#: Word (lower case) -> deployment type.
_DEPLOYMENT_WORDS = {
    "global": "global",
    "glbl": "global",
    "gl": "global",
    "dzone": "data zone",
    "dz": "data zone",
    "datazone": "data zone",
    "regional": "regional",
    "regnl": "regional",
    "rgnl": "regional",
    "batch": "batch",
    "bt": "batch",
    "provisioned": "provisioned",
    "ptu": "provisioned",
}
DEPLOYMENTS = ("global", "data zone", "regional", "batch", "provisioned", "")
_UNIT_WORDS = frozenset({"tokens", "token", "tkns", "1k", "1m", "per", "units", "unit"})
_SPLIT = re.compile(r"[\s\-_/]+")


@dataclass(frozen=True, slots=True)
class Meter:
    """What a meter name says; ``model`` is "" when it names no token category."""

    model: str
    deployment: str
    category: str


@lru_cache(maxsize=4096)
def parse_meter(name: str) -> Meter:
    """The model, deployment type and category of one ``MeterName``."""
    text = name.strip().lower().replace("data zone", "datazone")
    words = [w for w in _SPLIT.split(text) if w]
    category = ""
    cached = False
    deployment = ""
    model_words: list[str] = []
    for word in words:
        if word in _CACHED_WORDS:
            cached = True
        elif word in _CATEGORY_WORDS and not category:
            category = _CATEGORY_WORDS[word]
        elif word in _DEPLOYMENT_WORDS and not deployment:
            deployment = _DEPLOYMENT_WORDS[word]
        elif word in _UNIT_WORDS:
            continue
        else:
            model_words.append(word)
    if not category:
        return Meter("", deployment, OTHER)
    if cached and category == INPUT:
        category = CACHED_INPUT
    return Meter(_model_name(model_words), deployment, category)


def _model_name(words: list[str]) -> str:
    """``gpt 4o mini 0718`` -> ``gpt-4o-mini``: words joined with hyphens as Azure
    writes model names, the trailing version (``0718``, ``2024-07-18``) dropped so
    that the model is the one Azure Monitor's ``ModelName`` names (``gpt-4o-mini``),
    which lets allocation match billed meters with usage; the version stays in
    the record's line item (the meter name)."""
    return _VERSION.sub("", "-".join(words))


_VERSION = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")

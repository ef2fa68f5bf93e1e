"""The secret values of a component's configuration, for the contract suites.

The suites used to take the strings to look for from a ``secrets`` fixture
that defaulted to an empty list, so a plugin that forgot to override it passed
every "never logged" check without looking for anything. They now read the
secrets from the configuration itself: every ``SecretStr`` / ``SecretBytes``
value, however deeply nested (lists, tables, sub-models). A ``secrets``
fixture can still add strings that are not config fields (a token inside a
URL, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import BaseModel, SecretBytes, SecretStr

from costpipe.components import Component, ComponentConfig

__all__ = ["MIN_SECRET_LENGTH", "component_secrets", "config_secrets"]

#: Shorter values are not searched for: "x" would "leak" into every log line.
#: Give test credentials realistic lengths.
MIN_SECRET_LENGTH = 4


def _walk(value: object) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", "replace")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item)


def config_secrets(config: BaseModel) -> list[str]:
    """Every secret value in *config* (at least :data:`MIN_SECRET_LENGTH` long), sorted."""
    return sorted({text for text in _walk(config) if len(text) >= MIN_SECRET_LENGTH})


def component_secrets(
    components: Iterable[Component[ComponentConfig]], extra: Iterable[str] = ()
) -> list[str]:
    """The secrets of several components' configs plus *extra* strings."""
    found = {text for component in components for text in config_secrets(component.config)}
    found |= {text for text in extra if len(text) >= MIN_SECRET_LENGTH}
    return sorted(found)

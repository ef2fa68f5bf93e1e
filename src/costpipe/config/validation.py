"""Turning TOML values into validated models, with errors that name the TOML path.

Three concerns of the loader that do not depend on which section is read:
``${VAR}`` substitution from the environment, pydantic errors rewritten as one
:class:`~costpipe.errors.ConfigError` (``providers.openai[0].bucket_width:
...``), and the "did you mean" hint for a misspelled key or plugin name.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from costpipe.errors import ConfigError

__all__ = ["did_you_mean", "substitute_env", "validate_table"]

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

ModelT = TypeVar("ModelT", bound=BaseModel)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``", did you mean `lookback`?"`` when *word* looks like a misspelled
    candidate, else ``""``; appended to "unknown key" messages."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f", did you mean `{close[0]}`?" if close else ""


def loc_to_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    """``("providers", "openai", 0, "url")`` -> ``providers.openai[0].url``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or inside ``X | None`` / ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType, list, tuple):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the (possibly nested) model at *loc* accepts."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        info = current.model_fields.get(part)
        current = None if info is None else _nested_model(info.annotation)
    if current is None:
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _raise_validation(prefix: str, model: type[BaseModel], exc: ValidationError) -> NoReturn:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        message = "unknown key" + did_you_mean(key, _keys_at(model, loc[:-1]))
    elif first["type"] == "missing":
        message = "required key is missing"
    message = message.removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    raise ConfigError(loc_to_path(prefix, loc), message)


def validate_table(model: type[ModelT], data: Any, path: str) -> ModelT:
    """*data* (one TOML table) as *model*, or a ConfigError naming the TOML path."""
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a table, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _raise_validation(path, model, exc)


def substitute_env(value: Any, path: str, env: Mapping[str, str], used: dict[str, str]) -> Any:
    """*value* with every ``${VAR}`` replaced from *env* (``$${`` is a literal ``${``).

    Records ``TOML path -> variable`` in *used*, so a refused credential's
    message can name the variable to fix.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            var = match.group(1)
            if var is None:
                return "${"
            if var not in env:
                raise ConfigError(path, f"environment variable {var} is not set")
            used[path] = var
            return env[var]

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {
            k: substitute_env(v, f"{path}.{k}" if path else k, env, used) for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_env(v, f"{path}[{i}]", env, used) for i, v in enumerate(value)]
    return value

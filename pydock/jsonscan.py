"""`json.loads` for the commands people type, without importing the json package.

`import json` costs about 8 ms on the project's 2-core host (docs/performance.md, "CLI start-up"):
json.decoder and json.encoder import `re`. The parser itself is C (`_json.make_scanner`), importable
alone in a fraction of a millisecond. `loads` runs that scanner with the settings `json.loads` gives
it, and hands anything the scanner does not take whole (leading whitespace, a byte-order mark,
invalid UTF-8, a syntax error, trailing data) to `json.loads` itself, so results and errors are
those of `json.loads` by construction. Used by the container store and the CLI's fast paths.
"""

from __future__ import annotations

from _json import make_scanner

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_JSON_SPACE = " \t\n\r"


class _Settings:
    """What `json.JSONDecoder()` hands the C scanner (the defaults `json.loads` uses)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = make_scanner(_Settings())  # type: ignore[arg-type]  # typeshed names JSONDecoder there; any object with its attributes does


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`: the same value, or the same exception."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        value, end = _scan(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError, SystemError):
        # a syntax error: the scanner raises json.decoder.JSONDecodeError, or SystemError when it
        # finds json.decoder not yet imported (CPython 3.11 looks it up in sys.modules only)
        value, end = None, -1
    if end < 0 or text[end:].strip(_JSON_SPACE):
        import json

        return json.loads(data)
    return value

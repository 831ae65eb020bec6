"""Record boundaries in a file of newline-terminated records (json-file), found from the end.

`--tail N` reads backwards in BLOCK-sized reads, so its cost does not grow with the log. These take
a `read_at(offset, size)` and import nothing: the json-file codec (jsonfile.py) and the CLI's
`pydock logs` fast path (pydock/logprint.py) share them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable

BLOCK = 64 * 1024


def tail_start(read_at: Callable[[int, int], bytes], end: int, n: int) -> tuple[int, int]:
    """(offset, count): where the last `n` records before `end` start, and how many there are
    (`n`, or one more than the newlines found when the file holds fewer: the first record has none
    before it)."""
    if end <= 0 or n <= 0:
        return end, 0
    pos = end - 1  # the newline that ends the last record
    found = 0
    while pos > 0:
        lo = max(0, pos - BLOCK)
        block = read_at(lo, pos - lo)
        i = len(block)
        while True:
            i = block.rfind(b"\n", 0, i)
            if i < 0:
                break
            found += 1
            if found == n:
                return lo + i + 1, n
        pos = lo
    return 0, found + 1


def complete_end(read_at: Callable[[int, int], bytes], size: int) -> int:
    """The end of the last complete record (a writer may be midway through the next)."""
    pos = size
    while pos > 0:
        lo = max(0, pos - BLOCK)
        i = read_at(lo, pos - lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return 0

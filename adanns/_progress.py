"""Progress bars for long ``train`` / ``add`` / ``tune`` calls (tqdm, optional).

``progress=None`` (the default of those methods) shows a bar when tqdm is installed, the work
is at least :data:`THRESHOLD` vectors and the environment variable ``ADANNS_PROGRESS`` is not
``0``; ``progress=False`` never shows one, ``progress=True`` always does (when tqdm is installed).
Bars go to stderr.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

THRESHOLD = 200_000  # vectors


def wanted(progress: Optional[bool], size: int) -> bool:
    """Whether a bar is shown for work over ``size`` vectors."""
    if progress is False:
        return False
    if progress is None and (size < THRESHOLD or os.environ.get("ADANNS_PROGRESS", "1") == "0"):
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def bar(show: bool, total: Optional[int], desc: str, unit: str = "it") -> Iterator[Callable[[int], None]]:
    """Yields ``update(n)``; a no-op without a bar."""
    if not show:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    t: Any = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False)
    try:
        yield t.update
    finally:
        t.close()


def add_in_blocks(n: int, add_block: Callable[[int, int], None], undo: Callable[[int], None],
                  step: int = 1 << 16) -> None:
    """An ``add`` of ``n`` rows with a bar: ``add_block(b, e)`` for consecutive blocks of ``step``
    rows. If a block fails (or the call is interrupted), ``undo(started)`` removes the rows of
    the blocks started (the last one may or may not have gone in: an interrupt can land just
    after it returned), then the error propagates: the index holds what it held before."""
    started = 0
    try:
        with bar(True, n, "adanns add", "vec") as update:
            for b in range(0, n, step):
                e = started = min(n, b + step)
                add_block(b, e)
                update(e - b)
    except BaseException:
        undo(started)
        raise

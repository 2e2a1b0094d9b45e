"""Progress of the offline commands on big inputs: on stderr, only for a person.

A bar appears when a command has been at it for a second (``DELAY``) and only when
stderr is a terminal: piped or captured output, CI logs and ``2>file`` get nothing.
tqdm draws it (rate, count, time left), as it does for pip and Hugging Face tools;
it is imported only when a bar may be drawn. ``IRONLB_PROGRESS=0`` turns bars off,
``IRONLB_PROGRESS=always`` draws them at once whatever stderr is (tests, demos).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
DELAY = 1.0  # seconds before a bar appears: quick commands never show one


def progress(items: Iterable[T], *, total: int | None, what: str) -> Iterable[T]:
    """``items``, drawing a bar on stderr while they are consumed (see module doc)."""
    always = _mode()
    if always is None:
        return items
    return _closing(_bar(always, items, total=total, desc=what, unit=" records"))


@contextlib.contextmanager
def reading(path: str, characters: int) -> Iterator[Callable[[int], None] | None]:
    """A bar for the parse of one big input (``import_files(reading=...)``): its
    value is told how far into the text the parser is. Small inputs get none."""
    always = _mode()
    if always is None or (characters < SMALL and not always):
        yield None
        return
    bar = _bar(always, None, total=characters, desc=f"reading {path}", unit="B")

    def advance(position: int) -> None:
        bar.update(max(0, position - bar.n))

    try:
        yield advance
    finally:
        bar.close()


def _mode() -> bool | None:
    """None: no bar; else whether to draw it at once (``IRONLB_PROGRESS=always``)."""
    mode = os.environ.get("IRONLB_PROGRESS", "auto")
    always = mode == "always"
    if mode == "0" or not (always or _stderr_is_terminal()):
        return None
    return always


def _bar(
    always: bool, items: Iterable[T] | None, *, total: int | None, desc: str, unit: str
) -> Any:
    from tqdm import tqdm

    return tqdm(
        items,
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        leave=False,
        delay=0.0 if always else DELAY,
        mininterval=0.0 if always else 0.25,
        dynamic_ncols=True,
    )


SMALL = 1 << 20  # characters: parsed in well under a second, no bar (unless "always")


def _closing(bar: Iterable[T]) -> Iterator[T]:
    """The bar's items; the bar erased however iteration ends (a break included)."""
    try:
        yield from bar
    finally:
        bar.close()  # type: ignore[attr-defined]


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"

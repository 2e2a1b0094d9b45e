"""Store URLs (DESIGN.md, "Store URLs") -> an open Store."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .base import InvalidStoreURL, Store

FILE_OPTIONS = {"fsync", "segment_mb", "retain"}


def open_store(url: str, *, readonly: bool = False) -> Store:
    """Open the log at ``url``; a string without ``scheme://`` is a file-store directory.

    ``readonly`` opens a reader: no lock is taken and nothing is repaired, so it
    works beside a live writer (in this or another process).
    """
    if "://" not in url:
        path, _, query = url.partition("?")
        return _open_file(Path(path).absolute(), _options(url, query), url=None, readonly=readonly)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = _options(url, parts.query)
    if scheme == "memory":
        from .memory import open_memory

        _reject_options(url, options, set())
        return open_memory(parts.netloc + parts.path, url)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidStoreURL(f"{url}: a file URL needs an absolute path (file:///dir)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise InvalidStoreURL(f"{url}: a file URL needs an absolute path (file:///dir)")
        return _open_file(Path(path), options, url=url, readonly=readonly)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        return RedisStore(url, readonly=readonly)
    raise InvalidStoreURL(
        f"{url}: unknown store scheme {scheme!r} (use file://, memory:// or redis://)"
    )


def same_log(first: str, second: str) -> bool:
    """Whether two store URLs name the same log (file stores by their resolved
    directory, whatever the spelling; other stores by scheme, host and path)."""
    return _identity(first) == _identity(second)


def _identity(url: str) -> tuple[str, str]:
    if "://" not in url:
        return "file", str(Path(url.partition("?")[0]).resolve())
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return "file", str(Path(unquote(parts.path)).resolve())
    key = dict(parse_qsl(parts.query)).get("key", "")  # a Redis log is its key
    return scheme, f"{parts.netloc.lower()}{parts.path}#{key}"


def _options(url: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name in options:
            raise InvalidStoreURL(f"{url}: option {name!r} given twice")
        options[name] = value
    return options


def _reject_options(url: str, options: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise InvalidStoreURL(f"{url}: unknown option {unknown[0]!r} (known: {known})")


def _open_file(path: Path, options: dict[str, str], *, url: str | None, readonly: bool) -> Store:
    from .file import FileStore

    shown = url or str(path)
    _reject_options(shown, options, FILE_OPTIONS)
    if readonly and path.is_file():
        raise InvalidStoreURL(
            f"{shown} is a file, not a log (a log is a directory): a manifest? "
            f"`ironlb plan {shown}` reads it, `ironlb log import {shown} --to DIR` logs it"
        )
    kwargs: dict[str, object] = {}
    if "fsync" in options:
        kwargs["fsync"] = options["fsync"]
    if "segment_mb" in options:
        kwargs["segment_mb"] = _number(shown, "segment_mb", options["segment_mb"], float)
    if "retain" in options:
        kwargs["retain"] = _number(shown, "retain", options["retain"], int)
    return FileStore(path, readonly=readonly, url=url, **kwargs)  # type: ignore[arg-type]


def _number(url: str, name: str, text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise InvalidStoreURL(f"{url}: option {name}={text!r} is not a number") from None

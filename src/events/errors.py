"""The root of ironlb's error taxonomy and the errors of the record layer.

Every error ironlb raises on purpose derives from :class:`LbError`, so the command
line can print one clear line for any of them and keep tracebacks for bugs.
Misuse errors also derive from the builtin a caller would expect (``ValueError``).
Standard library only: the pure reconciler may import this module.
"""

from __future__ import annotations


class LbError(Exception):
    """Something ironlb reports to its user; never a bug."""

    exit_code = 2  # the command line's: 2 for what the user gave, 1 for a run that failed


class InvalidRecord(LbError, ValueError):
    """A record, or the bytes of one, does not have the shape DESIGN.md defines."""


class SchemaTooNew(InvalidRecord):
    """A record was written by a newer ironlb whose format this code cannot read."""

    def __init__(self, version: int, supported: int) -> None:
        super().__init__(
            f"record format version {version} is newer than this ironlb understands "
            f"(up to {supported}); upgrade ironlb to read this log"
        )
        self.version = version
        self.supported = supported


class ManifestError(LbError, ValueError):
    """A manifest document cannot be turned into records; names the file and document."""

    def __init__(self, path: str, index: int | None, message: str) -> None:
        where = path if index is None else f"{path}: document {index}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.index = index

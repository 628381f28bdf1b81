"""Opening a DuckDB build database, and swapping a finished one in whole.

A database target is built in a temporary file next to it (``.<name>.<pid>.<random>.building``)
and swapped in with ``os.replace``, so a reader (Superset) sees the old file or the new one,
never a half-built or locked one; a killed build leaves the old file intact and its temporary
file is removed by the next build of the same target. The full build and ``build
--incremental`` (which starts from a copy of the current file) share this.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sqlglot import exp

from saas_retention.core.errors import ConfigError

MEMORY_LIMIT_ENV = "SAAS_RETENTION_MEMORY_LIMIT"
# DuckDB's own default is 80 % of the machine, as if the build had it to itself; builds run
# beside Superset, a warehouse or other builds, so by default they take a sixth of it and
# spill beyond that (a 1M-customer build stays under 6 GB of RSS on a 24 GB machine, at a
# few percent of its time)
DEFAULT_MEMORY_FRACTION = 1 / 6
MIN_DEFAULT_MEMORY = 1 << 30


def default_memory_limit() -> str | None:
    """The memory limit of a build when :data:`MEMORY_LIMIT_ENV` is not set, as a DuckDB
    size (``"4096MiB"``); None where the physical memory is unknown (DuckDB's default)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    if total <= 0:
        return None
    return f"{max(int(total * DEFAULT_MEMORY_FRACTION), MIN_DEFAULT_MEMORY) >> 20}MiB"


def connect(path: str | None = None):
    """A DuckDB connection set up for building: files readable by duckdb 1.x, a memory limit
    (``SAAS_RETENTION_MEMORY_LIMIT`` or a sixth of the machine) and a private spill folder."""
    import duckdb

    target = path or ":memory:"
    try:
        # Files written by duckdb 2.x stay readable by the duckdb 1.x that Superset 6.1 pins.
        con = duckdb.connect(target, config={"storage_compatibility_version": "v1.0.0"})
    except duckdb.Error:
        con = duckdb.connect(target)
    if path is None:
        # beyond the memory limit DuckDB spills into its temp_directory, by default ".tmp" in
        # the working directory for an in-memory database; a file database's is "<file>.tmp"
        # beside it. DuckDB creates the directory only when it spills and removes it on close.
        spill = Path(tempfile.gettempdir()) / f"saas-retention-{os.getpid()}-{id(con):x}.tmp"
        con.execute(f"set temp_directory = {exp.Literal.string(str(spill)).sql('duckdb')}")
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if limit:
        # set, it replaces the default below (e.g. 4GB to share a machine, or 80% of it)
        try:
            con.execute(f"set memory_limit = {exp.Literal.string(limit).sql('duckdb')}")
        except duckdb.Error as exc:
            con.close()
            raise ConfigError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB "
                              f"accepts (e.g. 4GB, 500MB): {exc}") from None
    elif (default := default_memory_limit()) is not None:
        con.execute(f"set memory_limit = {exp.Literal.string(default).sql('duckdb')}")
    return con


def remove_stale_builds(db_path: Path) -> None:
    """Delete temporary files (and spill directories) of builds that were killed (their
    process is gone); a running build of the same target keeps its own."""
    for leftover in db_path.parent.glob(f".{db_path.name}.*.building*"):
        parts = leftover.name[len(db_path.name) + 2:].split(".")
        try:
            os.kill(int(parts[0]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            if leftover.is_dir():  # DuckDB's spill directory "<file>.tmp"
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's live process


class PendingDatabase:
    """The temporary file a build writes ``target`` into; :meth:`commit` swaps it in,
    :meth:`discard` (always safe to call) removes what is left of it.

    ``copy=True`` starts from a copy of the current target (an incremental refresh); otherwise
    DuckDB creates the file itself."""

    def __init__(self, target: str | os.PathLike, *, copy: bool = False):
        self.target = Path(target).resolve()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_builds(self.target)
        fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.{os.getpid()}.",
                                    suffix=".building", dir=self.target.parent)
        os.close(fd)
        self.path = Path(name)
        if copy:
            shutil.copyfile(self.target, self.path)
        else:
            os.unlink(self.path)

    def connect(self):
        return connect(str(self.path))

    def commit(self, con) -> Path:
        """Checkpoint and close ``con`` (a connection to :attr:`path`), then swap the file in."""
        con.execute("checkpoint")
        con.close()
        os.replace(self.path, self.target)
        return self.target

    def discard(self) -> None:
        for leftover in (self.path, Path(f"{self.path}.wal")):
            if leftover.exists():
                leftover.unlink()

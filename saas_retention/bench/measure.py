"""What every benchmark measures a run with."""

from __future__ import annotations


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, every thread (DuckDB's too): less
    sensitive than wall time to other work on a shared machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

"""What every benchmark measures a run with."""

from __future__ import annotations


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, every thread (DuckDB's too): less
    sensitive than wall time to other work on a shared machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_env(folder) -> dict[str, str]:
    """The environment of a timed child interpreter: compiled bytecode written to and reused
    from ``folder``/pycache, even where ``PYTHONDONTWRITEBYTECODE`` is set (as on our CI
    machines). An installed package has its bytecode (pip compiles on install); without it
    every fresh process compiles pandas, pyarrow and sqlglot from source, about 1.5 s that
    says nothing of our code. The first child of a run writes the cache."""
    import os
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
    return env

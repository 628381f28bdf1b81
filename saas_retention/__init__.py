"""saas-retention: every SaaS customer-retention metric, written once as SQL templates.

Importing the package is cheap: duckdb, pyarrow and the Superset side load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build",
    "check",
    "compile_model",
    "load_catalog",
    "load_settings",
    "register",
]


def __getattr__(name: str):
    # Lazy: `import saas_retention` must not pull in duckdb/pyarrow (tested).
    if name in ("build", "check"):
        from . import builder as _build

        return getattr(_build, name)
    if name == "compile_model":
        from .compile import compile_model

        return compile_model
    if name == "load_catalog":
        from .templates import load_catalog

        return load_catalog
    if name == "load_settings":
        from .config import load_settings

        return load_settings
    if name == "register":
        from .udfs import register

        return register
    raise AttributeError(f"module 'saas_retention' has no attribute {name!r}")

"""saas-retention: every SaaS customer-retention metric, written once as SQL templates.

Importing the package is cheap: duckdb, pyarrow and the Superset side load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"


def _checkout_components() -> None:
    """Run from a checkout (its root on ``sys.path``, e.g. the working directory), this folder
    shadows the installed package, whose ``sql``, ``udfs``, ``superset_plugin`` and
    ``dashboards`` subpackages setuptools maps from the checkout's top-level folders
    (pyproject's package-dir). Looking in the checkout root too finds them there: the same
    files an install copies."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if os.path.isfile(os.path.join(root, "sql", "metrics.yml")) and root not in __path__:
        __path__.append(root)


_checkout_components()

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
        from saas_retention.builders.duckdb import run as _build

        return getattr(_build, name)
    if name == "compile_model":
        from saas_retention.catalog.compile import compile_model

        return compile_model
    if name == "load_catalog":
        from saas_retention.catalog.templates import load_catalog

        return load_catalog
    if name == "load_settings":
        from saas_retention.core.config import load_settings

        return load_settings
    if name == "register":
        from saas_retention.udfs import register

        return register
    raise AttributeError(f"module 'saas_retention' has no attribute {name!r}")

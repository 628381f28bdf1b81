"""A connector: a tool's own tables (Stripe's invoices, GA4's events…) turned into one contract
table as a sqlglot query over a ``Target``, so the DuckDB build and every warehouse run the
same definition (docs/configuration.md#connectors).

A connector declares the tool tables it reads and the columns it needs from each, so a missing
table or column is reported naming the tool's table, and its own input checks as data (like
relations/rules.py): each one a query selecting the rows that break it, counted and shown
with examples by whichever build runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from saas_retention.core.config import Settings
from saas_retention.relations.target import Target


@dataclass(frozen=True)
class ToolTable:
    """One table of the tool, by the tool's name for it (the source may rename it with
    ``tables.<name>.table``), and the columns the connector reads."""

    name: str
    columns: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class ConnectorCheck:
    """One input check: ``rows(t)`` selects the breaking rows of ``table`` (tool table name),
    projecting the columns shown as examples. ``severity`` "error" stops the build; "warning"
    is reported and the rows are left out, never silently."""

    name: str
    table: str
    column: str | None
    message: str
    rows: Callable[[Target], exp.Query]
    severity: str = "error"


@dataclass(frozen=True)
class Connector:
    name: str
    produces: str  # the contract table
    tables: tuple[ToolTable, ...]
    build: Callable[[Target], exp.Query]
    checks: tuple[ConnectorCheck, ...] = ()
    description: str = ""
    # one tool landing in several schemas (Stripe's Data Pipeline, Fivetran, Airbyte): the
    # setting that selects one, and the connector of each of its values
    variant_setting: str | None = None
    variants: dict[str, Connector] = field(default_factory=dict, compare=False)

    def resolve(self, settings: Settings) -> Connector:
        if self.variant_setting is None:
            return self
        value = getattr(settings, self.variant_setting)
        if value not in self.variants:
            from saas_retention.core.errors import ConfigError

            raise ConfigError(f"{self.variant_setting}: {value!r} is not supported by the "
                              f"{self.name!r} connector yet; supported: "
                              f"{', '.join(self.variants)}")
        return self.variants[value]

    def query(self, t: Target) -> exp.Query:
        """The contract table's rows, with the contract's column names, as ``t``'s engine
        needs them (window NULL ordering, function spellings: as every model)."""
        from saas_retention.dialects import engine_spelling, window_null_ordering

        return engine_spelling(window_null_ordering(self.build(t), t.dialect), t.dialect)

    def table(self, name: str) -> ToolTable:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

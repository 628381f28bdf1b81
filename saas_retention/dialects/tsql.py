"""T-SQL (SQL Server): no NULLS FIRST/LAST; otherwise sqlglot's own generation."""

from __future__ import annotations

from saas_retention.dialects.base import Engine

ENGINE = Engine(
    name="tsql",
    aliases=("mssql", "sqlserver"),
    sqlalchemy_names=("mssql",),
    nulls="small",
    window_nulls_ordering=False,
    zoned_type_names=("WITHTIMEZONE", "TIMESTAMPTZ", "DATETIMEOFFSET"),
    dbt_adapter="sqlserver",
)

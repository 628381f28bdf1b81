"""The relations every build reads before the models, defined once as portable sqlglot
queries for a ``Target`` (an engine and the source's shape): the staged contract tables,
subscription terms, customer dimensions and both calendars. DuckDB is one target among the
others; what stays DuckDB-only is reading files and typing raw values (builders/duckdb)."""

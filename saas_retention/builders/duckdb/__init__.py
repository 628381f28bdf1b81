"""The DuckDB build: read the user's files (``sources``), type and check them (``stage``),
make the calendars and build every model into a DuckDB file and/or CSV/Parquet (``run``)."""

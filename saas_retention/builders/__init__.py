"""Running the models: on DuckDB from files (``duckdb``), inside a warehouse through SQLAlchemy
(``warehouse``), refreshing a DuckDB file (``incremental``); ``atomic`` opens a build database
and swaps a finished one in whole."""

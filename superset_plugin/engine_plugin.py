"""A SQLAlchemy engine plugin that registers the Arrow UDFs on every DuckDB connection.

Superset opens a new engine (and DuckDB connection) for each query, so Python functions must be
registered on every connection; the metric macros need nothing, they are stored in the database
file by ``saas-retention build``. Enable the plugin for one database through its extra (the
demo bundle does this)::

    {"engine_params": {"plugins": ["saas_retention"]}}

SQLAlchemy finds it through the ``sqlalchemy.plugins`` entry point ``saas_retention``, so no
``superset_config.py`` change is needed and it works in Celery workers too. A Superset whose
environment lacks this package fails those queries with ``Can't load plugin:
sqlalchemy.plugins:saas_retention`` — install the package, or drop the plugin from the extra.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.engine import CreateEnginePlugin

__all__ = ["SaasRetentionPlugin", "raw_duckdb_connection", "register_on_connect"]

log = logging.getLogger(__name__)

# Python UDFs live in DuckDB's database instance, which every connection of a process to the
# same file shares: registering again from a second connection fails ("already exists"), and
# Superset opens connections concurrently. So: one registration at a time, and only while
# the instance lacks them (they stay valid when the registering connection closes).
_LOCK = threading.Lock()
UDF_NAMES = ("sbg_fit", "sbg_survival_arrow", "classify_sentiment")


def raw_duckdb_connection(dbapi_connection):
    """The ``duckdb.DuckDBPyConnection`` behind a DBAPI connection of duckdb-engine.

    duckdb-engine wraps the connection (``ConnectionWrapper``, private attribute ``__c``); a
    bare duckdb connection is returned unchanged.
    """
    return getattr(dbapi_connection, "_ConnectionWrapper__c", dbapi_connection)


def register_on_connect(dbapi_connection, _connection_record=None) -> None:
    """Pool ``connect`` listener: register the Arrow UDFs on a new DuckDB connection; any
    other kind of connection is left alone.

    Also usable from ``superset_config.py`` for every pool
    (docs/superset.md#without-the-extra)::

        sqlalchemy.event.listen(sqlalchemy.pool.Pool, "connect", register_on_connect)
    """
    import duckdb

    raw = raw_duckdb_connection(dbapi_connection)
    if not isinstance(raw, duckdb.DuckDBPyConnection):
        return
    from saas_retention.udfs.arrow import register_arrow_udfs

    with _LOCK:
        if set(UDF_NAMES) <= _registered(raw):
            return
        register_arrow_udfs(raw)


def _registered(con) -> set[str]:
    rows = con.execute("select distinct function_name from duckdb_functions() "
                       "where list_contains(?, function_name)", [list(UDF_NAMES)]).fetchall()
    return {r[0] for r in rows}


class SaasRetentionPlugin(CreateEnginePlugin):
    """``create_engine(url, plugins=["saas_retention"])``: Arrow UDFs on every connection."""

    def update_url(self, url):
        # SQLAlchemy >= 1.4 asks plugins to strip their own URL parameters; we take none.
        return url

    def engine_created(self, engine) -> None:
        if engine.dialect.name != "duckdb":
            log.warning("saas_retention engine plugin: %s is not DuckDB; nothing registered",
                        engine.dialect.name)
            return
        event.listen(engine, "connect", register_on_connect)

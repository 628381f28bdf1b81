"""A SQLAlchemy engine plugin for the DuckDB databases Superset serves: every connection sees
the database file as it is when the connection opens, and has the Arrow UDFs registered.

Superset opens a new engine (and DuckDB connection) for each query, so Python functions must be
registered on every connection; the metric macros need nothing, they are stored in the database
file by ``saas-retention build``. Enable the plugin for one database through its extra (the
demo bundle does this)::

    {"engine_params": {"plugins": ["saas_retention"]}}

SQLAlchemy finds it through the ``sqlalchemy.plugins`` entry point ``saas_retention``, so no
``superset_config.py`` change is needed and it works in Celery workers too. A Superset whose
environment lacks this package fails those queries with ``Can't load plugin:
sqlalchemy.plugins:saas_retention`` — install the package, or drop the plugin from the extra.

A read-only connection to a database file (``connect_args`` ``{"read_only": true, ...}``, as
shipped) is opened as its own in-memory DuckDB instance that attaches the file read-only (see
``open_as_it_is_now``): ``saas-retention build`` swaps a rebuilt file in by renaming it over
the served path, and a connection opened directly on the path would join the instance another
query of the process still holds on the replaced file.
"""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy import event
from sqlalchemy.engine import CreateEnginePlugin

__all__ = [
    "SaasRetentionPlugin",
    "attach_read_only",
    "open_as_it_is_now",
    "raw_duckdb_connection",
    "register_on_connect",
]

log = logging.getLogger(__name__)

# Python UDFs live in DuckDB's database instance, which every connection of a process opened
# directly on the same file shares: registering again from a second connection fails ("already
# exists"), and Superset opens connections concurrently. So: one registration at a time, and
# only while the instance lacks them (they stay valid when the registering connection closes).
# A connection made by open_as_it_is_now has an instance of its own and always registers.
_LOCK = threading.Lock()
UDF_NAMES = ("sbg_fit", "sbg_survival_arrow", "classify_sentiment")
# Marks (in the pool's connection record) a connection that open_as_it_is_now made: its
# instance is new, so the UDFs are registered without first asking duckdb_functions() whether
# they are there — that listing of every function and stored macro cost ≈ 45 ms a chart request.
FRESH_INSTANCE = "saas_retention_fresh_instance"
# Settings that would refuse the ATTACH (or any later SET) if the instance started with them:
# applied once the file is attached, lock_configuration last.
DEFERRED_SETTINGS = ("enable_external_access", "lock_configuration")


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

    if _connection_record is not None and _connection_record.info.get(FRESH_INSTANCE):
        register_arrow_udfs(raw)  # an instance of its own: nothing to share, nothing there yet
        return
    with _LOCK:
        if set(UDF_NAMES) <= _registered(raw):
            return
        register_arrow_udfs(raw)


def _registered(con) -> set[str]:
    rows = con.execute("select distinct function_name from duckdb_functions() "
                       "where list_contains(?, function_name)", [list(UDF_NAMES)]).fetchall()
    return {r[0] for r in rows}


def catalog_name(path: str) -> str:
    """The catalog name DuckDB gives a database file it opens directly (``models`` for
    ``/x/models.duckdb``; ``temp_db`` for ``temp.duckdb``), so that names qualified with it
    and the schemas Superset lists (``models.main``) stay what they were. ``memory.duckdb``
    becomes ``memory_db``: the in-memory instance holds ``memory`` while the file attaches."""
    name = os.path.basename(path).split(".")[0] or "database"
    return f"{name}_db" if name in ("memory", "temp", "system") else name


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def attach_read_only(con, path: str, settings: dict | None = None) -> None:
    """On ``con``, a new in-memory DuckDB connection: attach the file ``path`` read-only
    under the catalog name DuckDB would give it, make it the default catalog, detach the empty
    in-memory one, then apply ``settings`` (``enable_external_access``,
    ``lock_configuration``…; ``lock_configuration`` last). Once external access is off no
    other file can be read or attached, as when the file is opened directly with those
    settings."""
    alias = catalog_name(path)
    quoted = '"' + alias.replace('"', '""') + '"'
    con.execute(f"ATTACH {_literal(str(path))} AS {quoted} (READ_ONLY)")
    con.execute(f"USE {quoted}")
    con.execute("DETACH memory")
    ordered = sorted((settings or {}).items(), key=lambda kv: kv[0] == "lock_configuration")
    for name, value in ordered:
        con.execute(f"SET {name} = {_literal(value)}")


def _file_to_attach(cargs, cparams) -> str | None:
    """The database file of a read-only DuckDB connection, or None for any other."""
    database = cparams.get("database", cargs[0] if cargs else None)
    config = {**(cparams.get("config") or {}), **(cparams.get("url_config") or {})}
    read_only = cparams.get("read_only") or str(config.get("access_mode", "")).lower() in (
        "read_only", "read-only")
    if not read_only or not isinstance(database, str):
        return None
    if database in ("", ":memory:") or database.startswith((":memory:", "md:", "motherduck:")):
        return None
    if "?" in database or "://" in database:  # MotherDuck users, remote URLs: not a file here
        return None
    return database


def open_as_it_is_now(dialect, _connection_record, cargs, cparams):
    """``do_connect`` listener: a read-only connection to a DuckDB file becomes an in-memory
    DuckDB instance of its own that attaches the file as it is now (``attach_read_only``),
    with the connection's settings (``enable_external_access``, ``lock_configuration``) in
    force once it is attached. Returns None (SQLAlchemy connects as usual) for anything else.

    DuckDB keeps one instance per file path in a process: opened directly, a connection made
    while another query still runs on a file that ``saas-retention build`` has since replaced
    joins that query's instance and reads the replaced file.
    """
    if _connection_record is not None:
        _connection_record.info.pop(FRESH_INSTANCE, None)
    if dialect.name != "duckdb":
        return None
    path = _file_to_attach(cargs, cparams)
    if path is None:
        return None
    config = dict(cparams.get("config") or {})
    config.update(cparams.get("url_config") or {})
    config.pop("access_mode", None)
    deferred = {k: config.pop(k) for k in DEFERRED_SETTINGS if k in config}
    # where DuckDB spills when a query outgrows memory: beside the file, as when opened directly
    config.setdefault("temp_directory", f"{path}.tmp")
    params = {k: v for k, v in cparams.items()
              if k not in ("database", "read_only", "config", "url_config")}
    connection = dialect.connect(":memory:", config=config, **params)
    try:
        attach_read_only(raw_duckdb_connection(connection), path, deferred)
    except BaseException:
        connection.close()
        raise
    if _connection_record is not None:
        _connection_record.info[FRESH_INSTANCE] = True
    return connection


class SaasRetentionPlugin(CreateEnginePlugin):
    """``create_engine(url, plugins=["saas_retention"])``: read-only connections open the file
    as it is now, and every connection has the Arrow UDFs."""

    def update_url(self, url):
        # SQLAlchemy >= 1.4 asks plugins to strip their own URL parameters; we take none.
        return url

    def engine_created(self, engine) -> None:
        if engine.dialect.name != "duckdb":
            log.warning("saas_retention engine plugin: %s is not DuckDB; nothing registered",
                        engine.dialect.name)
            return
        event.listen(engine, "do_connect", open_as_it_is_now)
        event.listen(engine, "connect", register_on_connect)

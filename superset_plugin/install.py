"""Installing the bundle into a Superset: inside its app (``superset saas-retention install``)
or through its REST API (``saas-retention superset install --url …``).

Both do the same steps:

1. find the database by name; its engine gives the sqlglot dialect (Superset's own mapping,
   ``superset.sql.parse.SQLGLOT_DIALECTS``, where Superset is importable);
2. list the model tables present and their columns, and build the matching bundle;
3. compare every object's digest with the one stored on the object already there (by UUID):
   created, updated or unchanged;
4. import only the created and updated objects (assets import, ``sparse``: everything else is
   resolved against what exists), so datasets and their saved metrics update too;
5. refresh the columns of the datasets that were created or updated.

A second run finds every digest equal and changes nothing ("unchanged").
Passwords and tokens are never printed or logged.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid as uuid_module
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import CookieJar

from saas_retention.core.errors import SaasRetentionError

from .bundle import Bundle, Column, Target, build_bundle, database_digest, stored_digest

__all__ = ["InstallError", "InstallReport", "install_in_app", "install_rest", "resolve_dialect"]

DEFAULT_SCHEMAS = ("main", "public")  # DuckDB, PostgreSQL-likes
PARALLEL_REQUESTS = 6  # table listings and refreshes are independent: don't wait in line


class InstallError(SaasRetentionError):
    exit_code = 4


@dataclass
class InstallReport:
    database: str
    dialect: str
    schema: str | None
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    found: str = ""  # how the schema was chosen when --schema was not given

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        out = [f"database {self.database} (dialect {self.dialect}, schema "
               f"{self.schema or 'default'})"]
        if self.found:
            out.append(self.found)
        if not self.changed:
            out.append(f"unchanged: all {len(self.unchanged)} objects are up to date; "
                       "nothing imported")
        else:
            for what, items in (("created", self.created), ("updated", self.updated)):
                if items:
                    out.append(f"{what} {len(items)} ({_kinds(items)})"
                               + (f": {', '.join(items)}" if len(items) <= 12 else ""))
            out.append(f"unchanged {len(self.unchanged)}")
            if self.refreshed:
                out.append(f"refreshed columns of {len(self.refreshed)} datasets")
        for why in self.skipped:
            out.append(f"  skipped {why}")
        out.append(f"time: {self.seconds:.1f} s")
        return out


def _kinds(labels: list[str]) -> str:
    counts: dict[str, int] = {}
    for label in labels:
        kind = label.split(" ", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(counts.items()))


def resolve_dialect(backend: str) -> str:
    """sqlglot dialect of a Superset engine (``backend``), checked against ours."""
    from saas_retention.dialects import resolve

    name = backend
    try:
        from superset.sql.parse import SQLGLOT_DIALECTS  # Superset's own mapping
    except Exception:  # noqa: BLE001 - not on a Superset host (REST path): use the name
        SQLGLOT_DIALECTS = {}  # noqa: N806
    mapped = SQLGLOT_DIALECTS.get(backend)
    if mapped is not None:
        name = getattr(mapped, "value", None) or getattr(mapped, "__name__", backend)
    try:
        return resolve(str(name))
    except SaasRetentionError as exc:
        raise InstallError(f"Superset engine {backend!r} (sqlglot {name!r}): {exc}") from None


def _label(kind: str, content: dict) -> str:
    name = (content.get("table_name") or content.get("slice_name")
            or content.get("dashboard_title") or content.get("database_name"))
    return f"{kind[:-1]} {name}"


def plan(bundle: Bundle, existing: dict[str, str | None], report: InstallReport) -> Bundle:
    """Sort the bundle's objects into the report; return the bundle of what must be imported.

    ``existing``: UUID -> the digest stored on the object in Superset (None: no digest).
    An object created anew gets a new id, so what points at it is imported again too:
    charts of a created dataset, dashboards holding a created chart.
    """
    state: dict[str, str] = {}
    for kind, path, content in bundle.objects():
        uid = str(content["uuid"])
        if uid not in existing:
            state[path] = "created"
        elif existing[uid] != stored_digest(kind, content):
            state[path] = "updated"
        else:
            state[path] = "unchanged"
    created = {str(c["uuid"]) for _k, p, c in bundle.objects() if state[p] == "created"}
    for kind, path, content in bundle.objects():
        if state[path] != "unchanged":
            continue
        if kind == "charts" and str(content["dataset_uuid"]) in created:
            state[path] = "updated"
            created.add(str(content["uuid"]))  # its id stays, but be safe for dashboards
    for _kind, path, content in bundle.objects("dashboards"):
        holds = {str(v["meta"]["uuid"]) for v in content["position"].values()
                 if isinstance(v, dict) and v.get("type") == "CHART"}
        if state[path] == "unchanged" and holds & created:
            state[path] = "updated"
    for kind, path, content in bundle.objects():
        getattr(report, state[path]).append(_label(kind, content))
    return bundle.subset([p for p, s in state.items() if s != "unchanged"])


def _type(kind) -> str:
    """Column types as one spelling whichever path listed them: Superset's REST API says
    ``NUMERIC`` where its Python API says ``NUMERIC(2, 1)``."""
    return re.sub(r"\(.*\)$", "", re.sub(r"\s+", "", str(kind))).upper()


def _models_present(tables: dict[str, list[Column]]) -> dict[str, list[Column]]:
    from saas_retention.catalog.templates import load_catalog

    models = load_catalog().models
    return {t: cols for t, cols in tables.items() if t in models}


# --- inside Superset ---------------------------------------------------------------------------


def _app_tables(database, schema: str | None) -> dict[str, list[Column]]:
    from superset.sql.parse import Table

    names = {t for t, _s, _c in database.get_all_table_names_in_schema(catalog=None,
                                                                        schema=schema)}
    present = _models_present({n: [] for n in names})
    for name in present:
        present[name] = [Column(c["column_name"], _type(c["type"]))
                         for c in database.get_columns(Table(name, schema))]
    return present


def _app_digests(bundle: Bundle) -> dict[str, str | None]:
    from superset import db
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice

    readers = {
        "databases": (Database, lambda o: database_digest(
            o.sqlalchemy_uri_decrypted, json.loads(o.extra or "{}"))),
        "datasets": (SqlaTable, lambda o: stored_digest(
            "datasets", {"extra": json.loads(o.extra or "{}")})),
        "charts": (Slice, lambda o: stored_digest(
            "charts", {"params": json.loads(o.params or "{}")})),
        "dashboards": (Dashboard, lambda o: stored_digest(
            "dashboards", {"metadata": json.loads(o.json_metadata or "{}")})),
    }
    existing: dict[str, str | None] = {}
    for kind, _path, content in bundle.objects():
        model, read = readers[kind]
        obj = db.session.query(model).filter_by(
            uuid=uuid_module.UUID(str(content["uuid"]))).one_or_none()
        if obj is not None:
            existing[str(content["uuid"])] = read(obj)
    return existing


def taken_table_names(bundle: Bundle, datasets: list[tuple[str, str, str]]) -> str:
    """Why an import of ``bundle`` fails when other datasets (``(uuid, table name, database
    name)`` of each dataset in Superset) already use its table names: a SQLite metadata
    database still has Superset's old UNIQUE(table_name) on datasets (the migration that
    widened it cannot alter a SQLite table; apache/superset#33134), so a second database's
    ``retention`` is refused with only "Import failed for an unknown reason". Empty when
    nothing collides."""
    ours = {content["table_name"]: str(content["uuid"])
            for _k, _p, content in bundle.objects("datasets")}
    taken: dict[str, list[str]] = {}
    for uuid, table, database in datasets:
        if table in ours and str(uuid) != ours[table]:
            taken.setdefault(database, []).append(table)
    if not taken:
        return ""
    where = "; ".join(f"{len(t)} on database {d!r} ({', '.join(sorted(t)[:5])}"
                      f"{', …' if len(t) > 5 else ''})" for d, t in sorted(taken.items()))
    return (f"{sum(map(len, taken.values()))} of the model tables already have another "
            f"dataset of the same name: {where}. A Superset whose metadata database is "
            "SQLite allows one dataset per table name (apache/superset#33134): delete those "
            "datasets first (Datasets → select → delete), or use a PostgreSQL or MySQL "
            "metadata database")


def apply_in_app(bundle: Bundle, report: InstallReport, username: str = "admin") -> None:
    """Import what changed in ``bundle`` into the Superset of the active app context."""
    from superset import db, security_manager
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.connectors.sqla.models import SqlaTable
    from superset.utils.core import override_user

    user = security_manager.find_user(username=username)
    if user is None:
        raise InstallError(f"no Superset user {username!r} (--username)")
    report.skipped = list(bundle.skipped)
    todo = plan(bundle, _app_digests(bundle), report)
    if not report.changed:
        return
    if db.engine.dialect.name == "sqlite":
        problem = taken_table_names(todo, [(t.uuid, t.table_name, t.database.database_name)
                                           for t in db.session.query(SqlaTable).all()])
        if problem:
            raise InstallError(problem)
    with override_user(user):
        try:
            ImportAssetsCommand(todo.texts(), sparse=True).run()
        except Exception as exc:  # Superset's CommandException, whatever it wraps
            cause = exc.__cause__ or exc.__context__
            detail = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:300]})" \
                if cause is not None and str(cause) else ""
            raise InstallError(f"Superset refused the import: {exc}{detail}") from None
        for _kind, _path, content in todo.objects("datasets"):
            dataset = db.session.query(SqlaTable).filter_by(
                uuid=uuid_module.UUID(str(content["uuid"]))).one()
            dataset.fetch_metadata()
            report.refreshed.append(dataset.table_name)
        db.session.commit()


def install_in_app(database_name: str, *, schema: str | None = None, grain: str = "month",
                   username: str = "admin") -> InstallReport:
    """Install into the Superset whose app context is active (the ``superset`` CLI)."""
    from superset import db
    from superset.models.core import Database

    started = time.perf_counter()
    database = db.session.query(Database).filter_by(database_name=database_name).one_or_none()
    if database is None:
        names = sorted(n for (n,) in db.session.query(Database.database_name).all())
        raise InstallError(f"no Superset database named {database_name!r}; there are: "
                           f"{', '.join(names) or 'none'}")
    dialect = resolve_dialect(database.backend)
    found = ""
    if schema is None:
        schema, tables, found = find_model_schema(
            database.get_all_schema_names(catalog=None), database.get_default_schema(None),
            database_name, lambda name: _app_tables(database, name))
    else:
        tables = _app_tables(database, schema)
    if not tables:
        raise InstallError(_no_tables(database_name, schema))
    from superset.connectors.sqla.models import SqlaTable

    report = InstallReport(database_name, dialect, schema, found=found)
    adopted = _adopt([(d.table_name, d.schema, str(d.uuid)) for d in db.session.query(
        SqlaTable).filter(SqlaTable.database_id == database.id).all()], tables, schema)
    target = Target(database_name=database_name, dialect=dialect, schema=schema, grain=grain,
                    database_uuid=str(database.uuid), tables=tables, dataset_uuids=adopted)
    apply_in_app(build_bundle(target), report, username)
    report.seconds = time.perf_counter() - started
    return report


def _adopt(datasets, tables, schema: str | None) -> dict[str, str]:
    """Existing datasets on the model tables (table name, schema None or the same): their
    UUIDs, so the import updates them instead of failing on a duplicate table."""
    adopted = {}
    for table, their_schema, uid in datasets:
        if table in tables and their_schema in (None, "", schema):
            adopted[table] = uid
    return adopted


def _default_schema(schemas, default: str | None, database_name: str) -> str:
    """The schema holding the models when none is given: the database's default, else
    ``main`` (DuckDB; duckdb-engine lists it as ``<catalog>.main``) or ``public``."""
    schemas = list(schemas)
    if default and default in schemas:
        return default
    for name in DEFAULT_SCHEMAS:
        if name in schemas or any(s.endswith(f".{name}") and not s.startswith(("temp.",
                                  "system.")) for s in schemas):
            return name
    if len(schemas) == 1:
        return schemas[0]
    raise InstallError(f"database {database_name!r} has schemas {sorted(schemas)}: say which "
                       "holds the models with --schema")


SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "sys", "mysql",
                  "performance_schema", "system"}


def find_model_schema(schemas, default: str | None, database_name: str,
                      tables_in: Callable[[str], dict]) -> tuple[str, dict, str]:
    """(schema, its model tables, how it was chosen) when --schema is not given.

    The default schema (the database's, else main / public) when it holds model tables;
    otherwise every schema the database exposes is searched (models are rarely built in
    the default one: ``build --target-schema analytics``). Several schemas with model tables,
    or none, are an error that names --schema."""
    schemas = list(schemas)
    first = None
    try:
        first = _default_schema(schemas, default, database_name)
    except InstallError:
        pass
    if first is not None:
        tables = tables_in(first)
        if tables:
            return first, tables, ""
    found = {}
    for name in schemas:
        bare = name.split(".")[-1].lower()
        if name == first or bare in SYSTEM_SCHEMAS or bare.startswith(("pg_temp", "pg_toast")) \
                or name.startswith(("temp.", "system.")):
            continue
        tables = tables_in(name)
        if tables:
            found[name] = tables
    if len(found) == 1:
        ((name, tables),) = found.items()
        return name, tables, (f"found {len(tables)} model tables in schema {name} (none in "
                              f"{first or 'the default schema'}); --schema {name} picks it "
                              "explicitly")
    if found:
        listed = ", ".join(f"{n} ({len(t)} model tables)" for n, t in sorted(found.items()))
        raise InstallError(f"database {database_name!r} has model tables in several schemas: "
                           f"{listed}; say which to use with --schema")
    raise InstallError(f"database {database_name!r} has none of the model tables in any of its "
                       f"schemas ({', '.join(sorted(schemas)) or 'none listed'}): if they are "
                       "in a schema Superset does not list, name it with --schema; otherwise "
                       "build them first (saas-retention build --database FILE for DuckDB, or "
                       "saas-retention build --source <SQLAlchemy URL> --target-schema NAME "
                       "inside a warehouse)")


def _no_tables(database_name: str, schema: str | None) -> str:
    return (f"database {database_name!r} (schema {schema}) has none of the model tables: "
            "name the schema that holds them with --schema, or build them first "
            "(saas-retention build --database FILE for DuckDB, or saas-retention build "
            "--source <SQLAlchemy URL> --target-schema NAME inside a warehouse)")


# --- over HTTP ---------------------------------------------------------------------------------


def rison(value) -> str:
    """Rison encoding (Superset's ``q=`` parameter) of dicts, lists, str, int, bool, None."""
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if value is None:
        return "!n"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if value and all(ch.isalnum() or ch in "_-./~" for ch in value) and \
                not value[0].isdigit() and value[0] not in "-":
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot rison-encode {type(value).__name__}")


class RestClient:
    """A minimal Superset REST client: bearer token for every call, CSRF token and the session
    cookie for writes. Never prints or logs the password or tokens."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 300):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()))
        status, body = self._call("POST", "/api/v1/security/login", json_body={
            "username": username, "password": password, "provider": "db", "refresh": False},
            auth=False)
        if status != 200 or "access_token" not in body:
            raise InstallError(f"login to {self.url} as {username!r} failed (HTTP {status}); "
                               "check --username and the password variable")
        self._token = body["access_token"]
        status, body = self._call("GET", "/api/v1/security/csrf_token/")
        if status != 200:
            raise InstallError(f"could not get a CSRF token from {self.url} (HTTP {status})")
        self._csrf = body["result"]

    def _call(self, method: str, path: str, *, json_body=None, data: bytes | None = None,
              content_type: str | None = None, auth: bool = True):
        headers = {"Accept": "application/json", "Referer": self.url}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
            if method != "GET":
                headers["X-CSRFToken"] = self._csrf
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise InstallError(f"cannot reach {self.url}: {exc.reason}") from None
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"raw": raw[:500].decode("utf-8", "replace")}
        return status, body

    def get(self, path: str, **query) -> dict:
        if query:
            path += "?" + urllib.parse.urlencode(
                {k: rison(v) if isinstance(v, dict | list) else v for k, v in query.items()})
        status, body = self._call("GET", path)
        if status != 200:
            raise InstallError(f"GET {path.split('?')[0]}: HTTP {status}: {_message(body)}")
        return body

    def get_or_none(self, path: str) -> dict | None:
        status, body = self._call("GET", path)
        return body if status == 200 else None

    def put(self, path: str, body: dict | None = None) -> dict:
        status, out = self._call("PUT", path, json_body=body or {})
        if status not in (200, 201):
            raise InstallError(f"PUT {path}: HTTP {status}: {_message(out)}")
        return out

    def post_chart_data(self, query_context: dict) -> tuple[int, dict]:
        return self._call("POST", "/api/v1/chart/data", json_body=query_context)

    def import_assets(self, zip_bytes: bytes) -> None:
        boundary = uuid_module.uuid4().hex
        parts = [
            (f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; '
             f'filename="saas_retention.zip"\r\nContent-Type: application/zip\r\n\r\n').encode(),
            zip_bytes, b"\r\n",
            (f'--{boundary}\r\nContent-Disposition: form-data; name="sparse"\r\n\r\n'
             f"true\r\n--{boundary}--\r\n").encode(),
        ]
        status, body = self._call("POST", "/api/v1/assets/import/", data=b"".join(parts),
                                  content_type=f"multipart/form-data; boundary={boundary}")
        if status != 200:
            raise InstallError(f"import failed: HTTP {status}: {_message(body)}")

    def paged(self, path: str, columns: list[str], filters: list | None = None) -> list[dict]:
        rows, page = [], 0
        while True:
            q = {"columns": columns, "page": page, "page_size": 100}
            if filters:
                q["filters"] = filters
            body = self.get(path, q=q)
            rows.extend(body.get("result", []))
            if len(rows) >= body.get("count", 0) or not body.get("result"):
                return rows
            page += 1


def _message(body: dict) -> str:
    text = body.get("message") or body.get("errors") or body.get("raw") or body
    if isinstance(text, list) and text and all(isinstance(e, dict) and "message" in e
                                               for e in text):
        text = "; ".join(e["message"] for e in text)  # Superset's error objects: the words
    return json.dumps(text)[:1000] if not isinstance(text, str) else text[:1000]


def install_rest(url: str, username: str, password: str, database_name: str, *,
                 schema: str | None = None, grain: str = "month",
                 client: RestClient | None = None) -> InstallReport:
    """Install through Superset's REST API (see the module docstring)."""
    started = time.perf_counter()
    api = client or RestClient(url, username, password)
    found = api.get("/api/v1/database/", q={
        "filters": [{"col": "database_name", "opr": "eq", "value": database_name}],
        "columns": ["id", "uuid", "backend", "database_name"]})["result"]
    if not found:
        names = [d["database_name"] for d in api.paged("/api/v1/database/", ["database_name"])]
        raise InstallError(f"no Superset database named {database_name!r}; there are: "
                           f"{', '.join(sorted(names)) or 'none'}")
    database = found[0]
    db_id = database["id"]
    dialect = resolve_dialect(database["backend"])

    def listed(name: str) -> dict:
        rows = api.get(f"/api/v1/database/{db_id}/tables/",
                       q={"schema_name": name, "force": True})["result"]
        return _models_present({t["value"]: [] for t in rows})

    found = ""
    if schema is None:
        schemas = api.get(f"/api/v1/database/{db_id}/schemas/")["result"]
        schema, tables, found = find_model_schema(schemas, None, database_name, listed)
    else:
        tables = listed(schema)
    if not tables:
        raise InstallError(_no_tables(database_name, schema))
    def columns(name: str) -> list[Column]:
        meta = api.get(f"/api/v1/database/{db_id}/table_metadata/?"
                       + urllib.parse.urlencode({"name": name, "schema": schema}))
        return [Column(c["name"], _type(c.get("type"))) for c in meta["columns"]]

    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        tables = dict(zip(tables, pool.map(columns, tables), strict=True))
    report = InstallReport(database_name, dialect, schema, found=found)
    adopted = _adopt([(d["table_name"], d.get("schema"), d["uuid"]) for d in api.paged(
        "/api/v1/dataset/", ["uuid", "table_name", "schema"],
        [{"col": "database", "opr": "rel_o_m", "value": db_id}])], tables, schema)
    target = Target(database_name=database_name, dialect=dialect, schema=schema, grain=grain,
                    database_uuid=database["uuid"], tables=tables, dataset_uuids=adopted)
    apply_rest(api, build_bundle(target), report)
    report.seconds = time.perf_counter() - started
    return report


def apply_rest(api: RestClient, bundle: Bundle, report: InstallReport) -> None:
    """Import what changed in ``bundle`` through the REST API, then refresh those datasets."""
    report.skipped = list(bundle.skipped)
    todo = plan(bundle, _rest_digests(api, bundle), report)
    if not report.changed:
        return
    try:
        api.import_assets(todo.zip_bytes("saas_retention"))
    except InstallError as exc:
        problem = taken_table_names(todo, [
            (d["uuid"], d["table_name"], d["database"]["database_name"]) for d in api.paged(
                "/api/v1/dataset/", ["uuid", "table_name", "database.database_name"])])
        if problem:
            raise InstallError(f"{exc}; probably because {problem}") from None
        raise
    wanted = {str(c["uuid"]) for _k, _p, c in todo.objects("datasets")}
    rows = [r for r in api.paged("/api/v1/dataset/", ["id", "uuid", "table_name"])
            if r["uuid"] in wanted]
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        list(pool.map(lambda r: api.put(f"/api/v1/dataset/{r['id']}/refresh"), rows))
    report.refreshed.extend(r["table_name"] for r in rows)


def _rest_digests(api: RestClient, bundle: Bundle) -> dict[str, str | None]:
    ours = {str(c["uuid"]) for _k, _p, c in bundle.objects()}
    existing: dict[str, str | None] = {}
    for row in api.paged("/api/v1/database/", ["id", "uuid"]):
        if row["uuid"] in ours:
            conn = api.get(f"/api/v1/database/{row['id']}/connection")["result"]
            existing[row["uuid"]] = database_digest(conn.get("sqlalchemy_uri"),
                                                    _json(conn.get("extra")))
    for row in api.paged("/api/v1/dataset/", ["id", "uuid", "extra"]):
        if row["uuid"] in ours:
            existing[row["uuid"]] = stored_digest("datasets", {"extra": _json(row.get("extra"))})
    for row in api.paged("/api/v1/chart/", ["id", "uuid", "params"]):
        if row["uuid"] in ours:
            existing[row["uuid"]] = stored_digest("charts", {"params": _json(row.get("params"))})
    for _kind, _path, content in bundle.objects("dashboards"):
        found = api.get_or_none(f"/api/v1/dashboard/{content['slug']}")
        if found and found["result"].get("uuid") == content["uuid"]:
            existing[content["uuid"]] = stored_digest(
                "dashboards", {"metadata": _json(found["result"].get("json_metadata"))})
    return existing


def _json(value) -> dict:
    if isinstance(value, str):
        return json.loads(value or "{}")
    return value or {}

"""Where users' tables come from: a directory of CSV/Parquet files, one file, or a DuckDB file.

A source makes each contract table it holds available in a DuckDB working connection as
``raw_<contract table>``. Warehouses (a SQLAlchemy URL) plug in behind the same interface:
``describe()`` says what exists, ``attach()`` exposes it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from saas_retention.core.config import Settings
from saas_retention.core.errors import SourceError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Relation:
    """One table of the source: how to read it in DuckDB, and a name for messages."""

    label: str  # what users recognise: a file path or a table name
    reader: exp.Expression  # a FROM-able expression (table or table function)
    materialise: bool  # CSV is parsed once into the working database


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _csv_reader(path: Path) -> exp.Expression:
    # Every column as text: types are checked and converted in staging, where a bad value
    # becomes a clear error with examples instead of a parser exception.
    return exp.func(
        "read_csv",
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("header"), expression=exp.true()),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
    )


def parquet_reader(path: Path) -> exp.Expression:
    target = str(path / "*.parquet") if path.is_dir() else str(path)
    return exp.func("read_parquet", exp.Literal.string(target))


class Source:
    """Base class; subclasses fill ``relations``."""

    description = "source"

    def relations(self) -> dict[str, Relation]:  # lower-cased name -> relation
        raise NotImplementedError

    def prepare(self, con) -> None:
        """Anything to run on the working connection before reading (e.g. ATTACH)."""

    def find(self, settings: Settings, table: str) -> Relation | None:
        name = settings.source_table(table)
        return self.relations().get(name.lower())

    def missing_table_message(self, settings: Settings, table: str) -> str:
        name = settings.source_table(table)
        available = sorted(self.relations())
        close = difflib.get_close_matches(name.lower(), available, n=1)
        hint = f"; did you mean {close[0]!r} (map it with tables.{table}.table)?" if close else ""
        shown = ", ".join(available) if available else "none"
        return (
            f"{self.description}: no table {name!r} for the required input {table!r}"
            f"{hint}\n  tables found: {shown}"
        )


class DirectorySource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.description = f"directory {path}"

    def relations(self) -> dict[str, Relation]:
        found: dict[str, Relation] = {}
        for item in sorted(self.path.iterdir()):
            lower = item.name.lower()
            if item.is_file() and lower.endswith(CSV_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), _csv_reader(item), True)
            elif item.is_file() and lower.endswith(PARQUET_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), parquet_reader(item), False)
            elif item.is_dir() and any(item.glob("*.parquet")):
                found[item.name.lower()] = Relation(str(item), parquet_reader(item), False)
        return found


class FileSource(Source):
    """A single CSV or Parquet file: the subscriptions table."""

    def __init__(self, path: Path):
        self.path = path
        self.description = f"file {path}"

    def relations(self) -> dict[str, Relation]:
        csv = self.path.name.lower().endswith(CSV_SUFFIXES)
        reader = _csv_reader(self.path) if csv else parquet_reader(self.path)
        return {_stem(self.path).lower(): Relation(str(self.path), reader, csv)}

    def find(self, settings: Settings, table: str) -> Relation | None:
        if table == "subscriptions":
            return next(iter(self.relations().values()))
        return None


class DuckDBSource(Source):
    ALIAS = "sr_source"

    def __init__(self, path: Path):
        self.path = path
        self.description = f"DuckDB database {path}"
        self._tables: dict[str, str] | None = None

    def _list(self) -> dict[str, str]:
        if self._tables is None:
            import duckdb

            try:
                con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise SourceError(f"cannot open {self.description}: {exc}") from None
            try:
                rows = con.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = 'main' order by table_name"
                ).fetchall()
            finally:
                con.close()
            self._tables = {r[0].lower(): r[0] for r in rows}
        return self._tables

    def relations(self) -> dict[str, Relation]:
        return {
            lower: Relation(
                f"{self.path}:{name}",
                exp.table_(name, db="main", catalog=self.ALIAS, quoted=True),
                False,
            )
            for lower, name in self._list().items()
        }

    def prepare(self, con) -> None:
        attach = exp.Attach(
            this=exp.alias_(exp.Literal.string(str(self.path)), self.ALIAS),
            expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
        )
        con.execute(attach.sql("duckdb"))


def open_source(location: str | Path) -> Source:
    """Pick the source kind from what ``location`` is."""
    text = str(location)
    if "://" in text:
        raise SourceError(
            f"{text.split('://')[0]}:// sources (warehouses through SQLAlchemy) are not "
            "supported yet; export the tables to CSV/Parquet or a DuckDB file"
        )
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"source {path} does not exist")
    if path.is_dir():
        return DirectorySource(path)
    lower = path.name.lower()
    if lower.endswith((".duckdb", ".db", ".ddb")):
        return DuckDBSource(path)
    if lower.endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES)):
        return FileSource(path)
    raise SourceError(
        f"source {path}: expected a directory of CSV/Parquet files, a .csv/.parquet file "
        "or a .duckdb database"
    )


__all__ = ["Relation", "Source", "open_source"]

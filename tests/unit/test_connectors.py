"""The connector plumbing (saas_retention/connectors): a contract table produced by a
connector's query over a tool's own tables builds the same models as the contract table given
directly, in the DuckDB build and in a warehouse; missing tool tables and columns, and the
connector's own checks, are errors naming the tool's table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from engines import pg_url
from sqlglot import exp

from saas_retention.builders.duckdb.run import build, check
from saas_retention.connectors import (
    CONNECTORS,
    Connector,
    ConnectorCheck,
    ToolTable,
    connector_for,
    register,
)
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import ConfigError, SourceError, SourceProblems
from saas_retention.relations.target import Target, cast, col, tool_table

AS_OF = "2024-06-30"
# a tool's table: seats sold, in cents per month
SEATS = [
    {"sale": "s1", "buyer": "c1", "opened": "2024-01-01", "closed": "", "cents": "10000"},
    {"sale": "s2", "buyer": "c2", "opened": "2024-02-15", "closed": "2024-05-01",
     "cents": "2550"},
    {"sale": "s3", "buyer": "c1", "opened": "2024-04-01", "closed": "", "cents": "500"},
]
# the same rows as the contract expects them (amounts in currency units: cents ÷ 100)
CONTRACT = [
    {"subscription_id": "s1", "customer_id": "c1", "start_date": "2024-01-01",
     "end_date": "", "mrr": "100"},
    {"subscription_id": "s2", "customer_id": "c2", "start_date": "2024-02-15",
     "end_date": "2024-05-01", "mrr": "25.5"},
    {"subscription_id": "s3", "customer_id": "c1", "start_date": "2024-04-01",
     "end_date": "", "mrr": "5"},
]


def _seats_query(t: Target) -> exp.Query:
    return exp.select(
        exp.alias_(cast(col("sale"), "VARCHAR"), "subscription_id"),
        exp.alias_(cast(col("buyer"), "VARCHAR"), "customer_id"),
        exp.alias_(t.cast(col("opened"), "DATE"), "start_date"),
        exp.alias_(t.cast(exp.func("nullif", cast(col("closed"), "VARCHAR"),
                                   exp.Literal.string("")), "DATE"), "end_date"),
        exp.alias_(exp.Div(this=cast(col("cents"), "DOUBLE"),
                           expression=exp.Literal.number(100)), "mrr"),
    ).from_(tool_table(t, "seats"))


def _negative(t: Target) -> exp.Query:
    return (exp.select(col("sale"), col("cents")).from_(tool_table(t, "seats"))
            .where(exp.LT(this=cast(col("cents"), "DOUBLE"), expression=exp.Literal.number(0))))


TOY = Connector(
    "toy", "subscriptions", (ToolTable("seats", ("sale", "buyer", "opened", "closed", "cents")),),
    _seats_query,
    checks=(ConnectorCheck("negative", "seats", "cents", "negative amounts", _negative),),
)


@pytest.fixture(scope="module", autouse=True)
def toy():
    register(TOY)
    yield TOY
    CONNECTORS.pop("toy")


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("connector")
    (root / "tool").mkdir()
    (root / "contract").mkdir()
    _write(root / "tool" / "seats.csv", SEATS)
    _write(root / "contract" / "subscriptions.csv", CONTRACT)
    return root


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_connector_for_resolves_billing_and_tables():
    assert connector_for(parse_settings({"billing": "toy"}), "subscriptions") is TOY
    assert connector_for(parse_settings({"tables": {"subscriptions": {"connector": "toy"}}}),
                         "subscriptions") is TOY
    assert connector_for(parse_settings({}), "subscriptions") is None
    with pytest.raises(ConfigError, match="produces 'subscriptions', not 'events'"):
        parse_settings({"tables": {"events": {"connector": "toy"}}})
    with pytest.raises(ConfigError, match="unknown billing connector 'nope'"):
        parse_settings({"billing": "nope"})
    with pytest.raises(ConfigError, match="map the tool's table names only"):
        parse_settings({"billing": "toy", "tables": {"subscriptions": {"columns": {
            "mrr": "x"}}}})
    # a tool table may be renamed
    s = parse_settings({"billing": "toy", "tables": {"seats": {"table": "sold_seats"}}})
    assert s.source_table("seats") == "sold_seats"


def test_connector_builds_the_same_models_as_the_contract(sources, tmp_path):
    settings = parse_settings({"as_of": AS_OF, "billing": "toy"})
    report = check(sources / "tool", settings)
    assert report.connectors == {"toy": {"seats": 3}}
    assert report.tables["subscriptions"] == 3
    via = build(sources / "tool", settings, out_dir=tmp_path / "via")
    direct = build(sources / "contract", parse_settings({"as_of": AS_OF}),
                   out_dir=tmp_path / "direct")
    assert via.models == direct.models
    for model in ("customer_periods", "mrr_movements"):
        assert _rows(tmp_path / "via" / f"{model}.csv") == \
            _rows(tmp_path / "direct" / f"{model}.csv")


def test_missing_tool_table_and_column_name_the_tool_table(sources, tmp_path):
    settings = parse_settings({"as_of": AS_OF, "billing": "toy"})
    with pytest.raises(SourceError,
                       match="no table 'seats' — toy's seats table.*'toy' connector reads"):
        check(sources / "contract", settings)
    (tmp_path / "seats.csv").write_text("sale,buyer,opened,cents\ns1,c1,2024-01-01,100\n")
    with pytest.raises(SourceProblems) as info:
        check(tmp_path, settings)
    assert "seats.closed: column missing" in str(info.value)


def test_connector_checks_report_rows_with_examples(tmp_path):
    _write(tmp_path / "seats.csv", [*SEATS, {"sale": "s9", "buyer": "c9", "opened":
                                             "2024-01-01", "closed": "", "cents": "-5"}])
    with pytest.raises(SourceProblems) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF, "billing": "toy"}))
    text = str(info.value)
    assert "seats.cents: negative amounts (1 row)" in text and "sale='s9'" in text


@pytest.mark.postgres
def test_connector_in_postgres_matches_duckdb(sources, tmp_path, pg_dsn):
    pytest.importorskip("sqlalchemy")
    import psycopg

    from saas_retention.builders.warehouse.run import build_on_warehouse

    url = pg_url(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("drop schema if exists tool cascade")
        con.execute("drop schema if exists out cascade")
        con.execute("create schema tool")
        con.execute("create table tool.seats (sale text, buyer text, opened date, closed date,"
                    " cents bigint)")
        for r in SEATS:
            con.execute("insert into tool.seats values (%s, %s, %s, %s, %s)",
                        (r["sale"], r["buyer"], r["opened"], r["closed"] or None,
                         int(r["cents"])))
    settings = parse_settings({"as_of": AS_OF, "billing": "toy"})
    result = build_on_warehouse(url, settings, schema="tool", target_schema="out")
    build(sources / "contract", parse_settings({"as_of": AS_OF}), out_dir=tmp_path / "d")
    assert "mrr_movements" in result.models
    with psycopg.connect(pg_dsn) as con:
        got = con.execute("select count(*), sum(mrr) from out.src_subscriptions").fetchone()
        assert got[0] == 3 and float(got[1]) == 130.5
        periods = con.execute("select customer_id, period_start::text, mrr from "
                              "out.customer_periods order by 1, 2").fetchall()
    want = sorted((r["customer_id"], r["period_start"], float(r["mrr"]))
                  for r in _rows(tmp_path / "d" / "customer_periods.csv"))
    assert [(c, p, float(m)) for c, p, m in periods] == want

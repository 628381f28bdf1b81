"""The contract rules defined once (relations/rules.py) find the same rows on both builds: the
DuckDB staging reading CSV files and the warehouse checks reading the same tables in SQLite."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pytest

from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.builders.warehouse.run import WarehouseBuild
from saas_retention.core.config import parse_settings
from saas_retention.core.errors import SourceProblems
from saas_retention.relations.rules import RULES

AS_OF = dt.date(2024, 6, 30)
NUMBERS = {"mrr", "score", "billing_interval_count", "rate"}
# every shared rule broken at least once (with amounts_per_interval); errors and warnings apart,
# since a warehouse reports its warnings only when there is no error
ERRORS = {
    "subscriptions": [
        "subscription_id,customer_id,start_date,end_date,mrr,billing_interval,"
        "billing_interval_count,currency",
        # currencies: eur has a rate on or before s2's start, gbp none at all, jpy only a
        # later one
        "s1,c1,2024-01-01,,100,month,1,usd", "s2,c2,2024-02-15,2024-01-01,50,year,1.5,EUR",
        "s3,c2,2024-03-01,,-5,fortnight,0,gbp", "s4,,2024-01-01,,10,Month,-1,jpy",
        "s5,c1,2024-01-01,,,week,1,", "s6,c1,2024-01-01,,12,,2,",
        # the limits: an amount, and a monthly amount (4e11 a day), beyond the money type; a
        # date no period can have; a count beyond the longest term
        "s7,c1,0024-01-01,,2e12,month,1,", "s8,c1,2024-01-01,,4e11,day,1,",
        "s9,c1,2024-01-01,,10,month,1e9,",
        # each within the money type, their customer's sum beyond it
        "s10,c3,2024-01-01,,6e11,month,1,", "s11,c3,2024-01-01,,6e11,month,1,",
        # within the money type, beyond it once converted at chf's latest rate (1000, not 1)
        "s12,c1,2024-03-01,,5e9,month,1,chf"],
    # two rates for eur on one day (the codes compare trimmed and in lower case)
    "exchange_rates": ["date,currency,rate", "2024-01-01,eur,1.1", "2024-01-01, EUR,1.2",
                       "2024-02-01,jpy,0.007", "2023-01-01,chf,1", "2024-02-01,chf,1000"],
    "customers": ["customer_id,signup_date", "c1,2024-01-01", "c2,2024-03-01",
                  "c3,0000-01-01"],
    "survey_responses": ["customer_id,responded_at,survey,score", "c1,2024-02-01,nps,11",
                         "c1,2024-02-01,CSAT,0", "c2,2024-02-01,ces,3",
                         "c2,2024-04-01, NPS ,5", "c2,2024-04-01,nps,",
                         "c1,1899-12-30,nps,5"],
}
WARNINGS = {
    "subscriptions": ["subscription_id,customer_id,start_date,end_date,mrr",
                      "s1,c1,2024-01-01,,100", "s2,c2,2024-02-15,2024-02-15,50",
                      "s3,c9,2025-01-01,,10", "s4,c3,2024-01-01,2024-05-01,10"],
    "customers": ["customer_id,signup_date", "c1,2024-01-01", "c2,2024-03-01",
                  "c3,2023-01-01"],
    "events": ["customer_id,event_time,event_name", "c1,2024-02-01 10:00:00,login",
               "c1,2025-02-01 10:00:00,login", "zz,2024-02-01 10:00:00,login",
               "c2,2024-01-01 10:00:00,x", "c1,2024-07-01 00:00:01,x"],
    "referrals": ["referrer_customer_id,referred_at", "c1,2024-02-01", "qq,2024-02-01",
                  "c2,2023-01-01"],
    "support_tickets": ["customer_id,created_at", "c1,2024-02-01", "c2,2030-01-01",
                        "c3,2022-01-01"],
}


def _source(folder: Path, tables: dict[str, list[str]]) -> Path:
    """The tables as CSV files and as a SQLite database (numbers stored as numbers)."""
    folder.mkdir()
    con = sqlite3.connect(folder / "warehouse.sqlite")
    for name, lines in tables.items():
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        header, *rows = list(csv.reader(lines))
        con.execute(f"create table {name} ({', '.join(header)})")
        con.executemany(f"insert into {name} values ({', '.join('?' * len(header))})", [
            [None if v == "" else float(v) if c in NUMBERS else v
             for c, v in zip(header, row, strict=True)]
            for row in rows])
    con.commit()
    con.close()
    return folder


def _found(problems, settings) -> dict[str, set[tuple]]:
    """The problems of the shared rules, by rule name."""
    names = {r.message(settings): r.name for r in RULES}
    found: dict[str, set[tuple]] = {}
    for p in problems:
        if p.message in names:
            found.setdefault(names[p.message], set()).add(
                (p.table, p.column, p.count, p.severity))
    return found


@pytest.mark.parametrize(("tables", "severity", "per_interval"),
                         [(ERRORS, "error", True), (WARNINGS, "warning", False)],
                         ids=["errors", "warnings"])
def test_shared_rules_find_the_same_rows_on_duckdb_and_a_warehouse(tmp_path, tables, severity,
                                                                   per_interval):
    settings = parse_settings({"as_of": AS_OF, "tables": {
        "subscriptions": {"amounts_per_interval": per_interval}}})
    folder = _source(tmp_path / "source", tables)
    con = duckdb.connect()
    stager = Stager(con, open_source(folder), settings)
    try:
        stager.run(stage=False)
        duckdb_found = _found(stager.report.warnings, settings)
    except SourceProblems as exc:
        duckdb_found = _found(exc.problems, settings)
    finally:
        con.close()
    warehouse = WarehouseBuild(f"sqlite:///{folder / 'warehouse.sqlite'}", settings,
                               schema=None, target_schema=None)
    target = warehouse.introspect()
    with warehouse.engine.begin() as conn:
        try:
            warehouse_found = _found(warehouse.check(conn, target), settings)
        except SourceProblems as exc:
            warehouse_found = _found(exc.problems, settings)
    # every shared rule of that severity is broken by the source, and found alike
    assert set(duckdb_found) == {r.name for r in RULES if r.severity == severity}
    assert duckdb_found == warehouse_found

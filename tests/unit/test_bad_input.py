"""Every defect of the input contract gives a clear error: table, column, count, examples —
and a non-zero exit code from the CLI, with no partial output left behind."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from engines import pg_url

from saas_retention.builders.duckdb.run import build, check
from saas_retention.core.config import load_settings, parse_settings
from saas_retention.core.errors import ConfigError, SourceError, SourceProblems

AS_OF = dt.date(2024, 6, 30)
HEADER = "subscription_id,customer_id,start_date,end_date,mrr"
GOOD = ["s1,c1,2024-01-01,,100", "s2,c2,2024-02-15,2024-04-01,50"]


def write(folder: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def problems_of(source: Path, **settings) -> list[str]:
    with pytest.raises(SourceProblems) as info:
        check(source, parse_settings({"as_of": AS_OF, **settings}))
    return [str(p) for p in info.value.problems]


def one_problem(source: Path, **settings) -> str:
    found = problems_of(source, **settings)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (",c3,2024-01-01,,10", "subscriptions.subscription_id: missing (NULL) values"),
        ("s3,,2024-01-01,,10", "subscriptions.customer_id: missing (NULL) values"),
        ("s3,c3,2024-05-01,2024-03-01,10", "subscriptions.end_date: end_date before start_date"),
        ("s3,c3,2024-01-01,,-10", "subscriptions.mrr: negative MRR"),
        ("s3,c3,2024-01-01,,ten", "subscriptions.mrr: values that are not a number"),
        ("s3,c3,01/02/2024,,10", "subscriptions.start_date: values that are not a date"),
        ("s3,c3,2024-02-30,,10", "subscriptions.start_date: values that are not a date"),
        ("s3,c3,,,10", "subscriptions.start_date: missing (NULL) values"),
        ("s3,c3,2024-01-01,,", "subscriptions.mrr: missing (NULL) values"),
        ("s1,c3,2024-01-01,,10", "subscriptions.subscription_id: duplicate values"),
    ],
)
def test_subscription_defects(tmp_path, row, expected):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD, row])
    message = one_problem(tmp_path)
    assert message.startswith(f"error: {expected}"), message
    assert "(1 row)" in message or "(2 rows)" in message  # the count
    assert "e.g." in message  # examples


@pytest.mark.parametrize("count", ["0", "-1", "1.5", "0.25", "inf", "nan", "100001", "1e12"])
def test_billing_interval_count_must_be_a_positive_whole_number(tmp_path, count):
    """A term lasts billing_interval × billing_interval_count: 0 or less would give no
    renewal anniversary at all, a fraction a term each engine rounds its own way."""
    header = f"{HEADER},billing_interval,billing_interval_count"
    write(tmp_path, "subscriptions.csv", [header, "s1,c1,2024-01-01,,100,month,",
                                          "s2,c2,2024-02-15,2024-04-01,50,year,2",
                                          f"s3,c3,2024-01-01,,10,month,{count}"])
    message = one_problem(tmp_path)
    assert message.startswith(
        "error: subscriptions.billing_interval_count: values that are not a positive whole "
        "number up to 100,000 (a term lasts this many billing intervals) (1 row)"), message
    assert "subscription_id='s3'" in message and f"billing_interval_count='{count}'" in message


def test_examples_show_the_offending_rows(tmp_path):
    rows = [f"b{i},c{i},2024-13-{i:02d},,10" for i in range(1, 6)]
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD, *rows])
    message = one_problem(tmp_path)
    assert "(5 rows)" in message
    assert "subscription_id='b1'" in message and "start_date='2024-13-01'" in message
    assert "b4" not in message  # a few examples, not all


def test_mixed_date_formats_are_reported(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD, "s3,c3,03/01/2024,,10",
                                          "s4,c4,March 3 2024,,10"])
    message = one_problem(tmp_path)
    assert "start_date: values that are not a date" in message and "(2 rows)" in message


def test_all_problems_are_reported_together(tmp_path):
    write(tmp_path, "subscriptions.csv",
          [HEADER, *GOOD, "s3,c3,2024-05-01,2024-03-01,10", "s4,c4,2024-01-01,,-1"])
    found = problems_of(tmp_path)
    assert len(found) == 2
    assert any("end_date before start_date" in p for p in found)
    assert any("negative MRR" in p for p in found)


def test_missing_required_column_names_existing_and_closest(tmp_path):
    write(tmp_path, "subscriptions.csv",
          ["subscription_id,customer_id,start_date,end_date,monthly_mrr", "s1,c1,2024-01-01,,5"])
    message = one_problem(tmp_path)
    assert "subscriptions.mrr: required column missing" in message
    assert "closest match 'monthly_mrr'" in message
    assert "tables.subscriptions.columns.mrr" in message
    assert "columns found: subscription_id, customer_id, start_date, end_date, monthly_mrr" \
        in message


def test_column_mapping_fixes_the_missing_column(tmp_path):
    write(tmp_path, "subscriptions.csv",
          ["subscription_id,customer_id,start_date,end_date,monthly_mrr", "s1,c1,2024-01-01,,5"])
    report = check(tmp_path, parse_settings(
        {"as_of": AS_OF, "tables": {"subscriptions": {"columns": {"mrr": "monthly_mrr"}}}}))
    assert report.tables == {"subscriptions": 1}


def test_missing_subscriptions_table_lists_what_exists(tmp_path):
    write(tmp_path, "subscription_periods.csv", [HEADER, *GOOD])
    with pytest.raises(SourceError) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF}))
    text = str(info.value)
    assert "no table 'subscriptions'" in text
    assert "did you mean 'subscription_periods'" in text
    assert "tables.subscriptions.table" in text


def test_non_utf8_csv(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD, "s3,Société Générale,2024-01-01,,10"],
          encoding="latin-1")
    with pytest.raises(SourceError) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF}))
    assert "subscriptions" in str(info.value) and "not UTF-8" in str(info.value)


def test_empty_file(tmp_path):
    (tmp_path / "subscriptions.csv").write_bytes(b"")
    with pytest.raises(SourceError) as info:
        check(tmp_path, parse_settings({"as_of": AS_OF}))
    assert "subscriptions" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_header_only_file_has_nothing_to_build(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER])
    with pytest.raises(SourceError) as info:
        build(tmp_path, parse_settings({"as_of": AS_OF}), out_dir=tmp_path / "out")
    assert "no subscription is active on or before as_of" in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_future_rows_are_a_warning_and_kept(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD, "s3,c3,2025-01-01,,10"])
    report = check(tmp_path, parse_settings({"as_of": AS_OF}))
    assert [str(w) for w in report.warnings] == [
        "warning: subscriptions.start_date: subscriptions starting after as_of (2024-06-30); "
        "kept, they count from their start once as_of reaches it (1 row)\n"
        "    e.g. {subscription_id='s3', customer_id='c3', start_date='2025-01-01', "
        "end_date=None, mrr='10'}"
    ]


def test_unknown_customers_are_a_warning(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    write(tmp_path, "customers.csv", ["customer_id,plan", "c1,pro"])
    report = check(tmp_path, parse_settings({"as_of": AS_OF}))
    assert len(report.warnings) == 1
    assert "customers missing from the customers table" in str(report.warnings[0])
    assert "(1 row)" in str(report.warnings[0]) and "c2" in str(report.warnings[0])


def test_duplicate_customers(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    write(tmp_path, "customers.csv", ["customer_id,plan", "c1,pro", "c1,starter", "c2,pro"])
    message = one_problem(tmp_path)
    assert message.startswith("error: customers.customer_id: duplicate values")
    assert "(2 rows)" in message and "'c1'" in message


def test_wrong_type_in_parquet(tmp_path):
    import duckdb

    path = tmp_path / "subscriptions.parquet"
    duckdb.sql("select 's1' as subscription_id, 'c1' as customer_id, "
               "date '2024-01-01' as start_date, null::date as end_date, 'lots' as mrr"
               ).write_parquet(str(path))
    message = one_problem(tmp_path)
    assert "subscriptions.mrr: values that are not a number" in message


def test_unknown_config_key(tmp_path):
    cfg = write(tmp_path, "cfg.yml", ["grian: month"])
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "unknown config key 'grian'" in str(info.value)
    assert "did you mean 'grain'" in str(info.value)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["grain: fortnight"], "grain"),
        (["timezone: Europe/Pariss"], "did you mean Europe/Paris"),
        (["week_start: funday"], "week_start"),
        (["preset: chartmogul"], "preset"),
        (["tables:", "  subscription:", "    table: x"], "unknown table 'subscription'"),
        (["tables:", "  subscriptions:", "    columns: {amount: x}"],
         "unknown contract column 'amount'"),
        (["- a list"], "must hold a mapping"),
    ],
)
def test_invalid_settings(tmp_path, lines, expected):
    cfg = write(tmp_path, "cfg.yml", lines)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert expected in str(info.value)


def test_cli_exit_code_message_and_no_partial_output(tmp_path):
    src = tmp_path / "src"
    write(src, "subscriptions.csv", [HEADER, *GOOD, "s3,c3,2024-05-01,2024-03-01,10"])
    out, db = tmp_path / "out", tmp_path / "m.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "build", "--source", str(src),
         "--as-of", "2024-06-30", "--out", str(out), "--database", str(db)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert "subscriptions.end_date: end_date before start_date (1 row)" in proc.stderr
    assert not db.exists()
    assert not out.exists() or not any(out.iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_refuses_a_billing_interval_count_of_zero(tmp_path):
    src = tmp_path / "src"
    write(src, "subscriptions.csv", [f"{HEADER},billing_interval_count",
                                     "s1,c1,2024-01-01,,100,", "s2,c2,2024-01-01,,100,0"])
    db = tmp_path / "m.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "build", "--source", str(src),
         "--as-of", "2024-06-30", "--database", str(db)], capture_output=True, text=True)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert ("subscriptions.billing_interval_count: values that are not a positive whole "
            "number up to 100,000 (a term lasts this many billing intervals) (1 row)"
            ) in proc.stderr
    assert not db.exists()


def test_failed_rebuild_keeps_the_previous_database(tmp_path):
    import duckdb

    src = tmp_path / "src"
    write(src, "subscriptions.csv", [HEADER, *GOOD])
    db = tmp_path / "m.duckdb"
    build(src, parse_settings({"as_of": AS_OF}), database=db)
    write(src, "subscriptions.csv", [HEADER, *GOOD, "s3,c3,2024-01-01,,-5"])
    with pytest.raises(SourceProblems):
        build(src, parse_settings({"as_of": AS_OF}), database=db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select max(customers_end) from retention").fetchall() == [(2,)]
    finally:
        con.close()


def test_survey_scale_check_ignores_case(tmp_path):
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    write(tmp_path, "survey_responses.csv", ["customer_id,responded_at,survey,score",
                                             "c1,2024-02-01 10:00:00,NPS,11",
                                             "c1,2024-02-02 10:00:00,Csat,4"])
    message = one_problem(tmp_path)
    assert message.startswith("error: survey_responses.score: scores outside the survey's scale")
    assert "(1 row)" in message and "score='11'" in message


def test_engagement_score_builds_without_support_tickets(tmp_path):
    import duckdb

    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    write(tmp_path, "events.csv", ["customer_id,event_time,event_name",
                                   "c1,2024-02-14 09:00:00,login", "c2,2024-03-03 10:00:00,login"])
    db = tmp_path / "m.duckdb"
    result = build(tmp_path, parse_settings({"as_of": AS_OF}), database=db)
    assert "customer_engagement" in result.models and "support_load" in result.skipped
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select sum(support_tickets) from customer_engagement"
                           ).fetchall() == [(0,)]
        # whole months: the day calendar starts on the first of the first month
        assert con.execute("select min(activity_date) from calendar_days").fetchall() == [
            (dt.date(2024, 1, 1),)]
    finally:
        con.close()


@pytest.mark.parametrize("count", ["0", "-1"])
def test_billing_interval_count_must_be_positive(tmp_path, count):
    # with amounts_per_interval the amounts are divided by it: the MRR would be infinite or
    # negative (the models rely on staged MRR never being negative)
    header = HEADER + ",billing_interval,billing_interval_count"
    rows = [f"{r},month,1" for r in GOOD] + [f"s3,c3,2024-01-01,,120,year,{count}"]
    write(tmp_path, "subscriptions.csv", [header, *rows])
    message = one_problem(tmp_path,
                          tables={"subscriptions": {"amounts_per_interval": True}})
    # the amounts are divided by it: refused by the rule every build has (above)
    assert message.startswith("error: subscriptions.billing_interval_count: values that are "
                              "not a positive whole number"), message


def test_billing_interval_counts_normalise_amounts(tmp_path):
    header = HEADER + ",billing_interval,billing_interval_count"
    write(tmp_path, "subscriptions.csv", [header, "s1,c1,2024-01-01,,120,year,2",
                                          "s2,c2,2024-01-01,,30,month,"])
    settings = parse_settings({"as_of": AS_OF,
                               "tables": {"subscriptions": {"amounts_per_interval": True}}})
    report = check(tmp_path, settings)
    assert report.used["subscriptions"] == 2


# -- the limits on build --source <URL> (issue #20): the same rules, before anything is written

LIMIT_CASES = {
    # case: (table, column, the value stored, in SQLite / in PostgreSQL)
    "huge_mrr": ("subscriptions", "mrr", 1e308, 1e308),
    "micro_units": ("subscriptions", "mrr", 1e12, 1e12),
    "infinite_mrr": ("subscriptions", "mrr", None, float("inf")),
    "year_zero": ("subscriptions", "start_date", "0000-01-01", "0001-01-01"),
    "signup_year_one": ("customers", "signup_date", "0001-01-01", "0001-01-01"),
    "event_before_1900": ("events", "event_time", "1899-12-30 00:00:00", "1899-12-30 00:00:00"),
    # PostgreSQL's own dates no period can have, which its driver cannot load either
    "infinite_end": ("subscriptions", "end_date", None, "infinity"),
    "before_christ": ("subscriptions", "start_date", None, "0044-03-15 BC"),
    # each amount within the money type, the customer's sum (with s0's 100) beyond it
    "customer_sum": ("subscriptions", "mrr", 999_999_999_950.0, 999_999_999_950.0),
    # text no date in typeless SQLite: its DATE() gives NULL, which would drop the row
    "text_date": ("subscriptions", "start_date", "yesterday", None),
}
LIMIT_TABLES = {
    "subscriptions": ("subscription_id text, customer_id text, start_date date, end_date date, "
                      "mrr double precision",
                      [("s0", "c2", "2024-01-01", None, 100.0),
                       ("s1", "c1", "2024-01-01", None, 100.0),
                       ("s2", "c2", "2024-02-15", "9999-12-31", 50.0)]),
    "customers": ("customer_id text, signup_date date",
                  [("c1", "2023-06-01"), ("c2", "2023-06-01")]),
    "events": ("customer_id text, event_time timestamp, event_name text",
               [("c1", "2024-03-01 10:00:00", "login")]),
}


def _load_limits(engine_name: str, where, case: str | None) -> str:
    """The tables into SQLite (a file) or PostgreSQL (a DSN), with ``case``'s value in row 2;
    returns the SQLAlchemy URL."""
    rows = {t: [list(r) for r in spec[1]] for t, spec in LIMIT_TABLES.items()}
    if case is not None:
        table, column, sqlite_value, pg_value = LIMIT_CASES[case]
        names = [c.split()[0] for c in LIMIT_TABLES[table][0].split(", ")]
        rows[table][-1][names.index(column)] = (
            sqlite_value if engine_name == "sqlite" else pg_value)
    if engine_name == "sqlite":
        import sqlite3

        con = sqlite3.connect(where)
        run = con.execute
    else:
        import psycopg

        con = psycopg.connect(where, autocommit=True)
        run = con.execute
        for (name,) in con.execute("select tablename from pg_tables where schemaname = 'public'"
                                   ).fetchall():
            con.execute(f'drop table "{name}"')
    for table, (columns, _) in LIMIT_TABLES.items():
        run(f"create table {table} ({columns})")
        marks = ", ".join(["?" if engine_name == "sqlite" else "%s"] * len(columns.split(",")))
        for row in rows[table]:
            run(f"insert into {table} values ({marks})", row)
    if engine_name == "sqlite":
        con.commit()
    con.close()
    if engine_name == "sqlite":
        return f"sqlite:///{where}"
    return pg_url(where)


def _tables_of(engine_name: str, url: str) -> set[str]:
    import sqlalchemy

    return set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_limits_on_a_warehouse_are_contract_errors_with_nothing_written(tmp_path, request,
                                                                        engine_name):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    settings = parse_settings({"as_of": AS_OF})
    for case, (table, column, sqlite_value, pg_value) in LIMIT_CASES.items():
        if (sqlite_value if engine_name == "sqlite" else pg_value) is None:
            continue  # SQLite stores no infinity; PostgreSQL's date column holds dates only
        where = (str(tmp_path / f"{case}.sqlite") if engine_name == "sqlite"
                 else request.getfixturevalue("pg_dsn"))
        url = _load_limits(engine_name, where, case)
        with pytest.raises(SourceProblems) as info:
            build_on_warehouse(url, settings)
        assert info.value.exit_code == 3
        problems = info.value.problems
        # SQLite compares text that is no date with the end date as text, too
        assert len(problems) == 1 or case == "text_date", (case, problems)
        problem = problems[0]
        rows = 2 if case == "customer_sum" else 1  # both rows of the customer
        assert (problem.table, problem.column, problem.count) == (table, column, rows), case
        assert problem.examples, case
        limit = ("not a date" if case == "text_date" else
                 "DECIMAL(18, 6)" if column == "mrr" else "1900-01-01 to 9999-12-31")
        assert limit in problem.message, (case, problem.message)
        assert _tables_of(engine_name, url) == set(LIMIT_TABLES), case  # nothing written
    # the latest date is a date a period can have: 9999-12-31 as "never ends" builds
    where = (str(tmp_path / "valid.sqlite") if engine_name == "sqlite"
             else request.getfixturevalue("pg_dsn"))
    result = build_on_warehouse(_load_limits(engine_name, where, None), settings)
    assert result.models["retention"] > 0


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_duplicate_keys_are_reported_alike_by_both_builds(tmp_path, request, engine_name):
    """One rule (relations/rules.py duplicate_keys): a repeated subscription_id and a repeated
    customer_id give the same problems — table, column, rows, message, examples — from the
    DuckDB build on files and from a warehouse build, which used to count repeated values of
    subscription_id only and keep a repeated customer's earliest signup."""
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    subs = [("s0", "c2", "2024-01-01", None, 100.0), ("s1", "c1", "2024-01-01", None, 100.0),
            ("s1", "c2", "2024-02-15", None, 50.0), ("s1", "c1", "2024-03-01", None, 10.0)]
    customers = [("c1", "2023-06-01"), ("c2", "2023-06-01"), ("c2", "2023-07-01")]
    files = tmp_path / "files"
    write(files, "subscriptions.csv", [HEADER, *(
        ",".join("" if v is None else str(v) for v in r) for r in subs)])
    write(files, "customers.csv", ["customer_id,signup_date", *(",".join(r) for r in customers)])
    with pytest.raises(SourceProblems) as on_files:
        build(files, parse_settings({"as_of": AS_OF}), database=tmp_path / "out.duckdb")

    where = (str(tmp_path / "w.sqlite") if engine_name == "sqlite"
             else request.getfixturevalue("pg_dsn"))
    original = {t: spec for t, spec in LIMIT_TABLES.items()}
    try:
        LIMIT_TABLES["subscriptions"] = (LIMIT_TABLES["subscriptions"][0], subs)
        LIMIT_TABLES["customers"] = (LIMIT_TABLES["customers"][0], customers)
        url = _load_limits(engine_name, where, None)
    finally:
        LIMIT_TABLES.update(original)
    with pytest.raises(SourceProblems) as on_warehouse:
        build_on_warehouse(url, parse_settings({"as_of": AS_OF}))

    def duplicates(info):
        return sorted((p.table, p.column, p.count, p.message, [str(e) for e in p.examples])
                      for p in info.value.problems if "duplicate" in p.message)

    expected = [
        ("customers", "customer_id", 2, "duplicate values in a key column "
         "(1 distinct values repeated)", ["c2"]),
        ("subscriptions", "subscription_id", 3, "duplicate values in a key column "
         "(1 distinct values repeated)", ["s1"]),
    ]
    assert duplicates(on_files) == expected
    assert duplicates(on_warehouse) == expected
    assert not (tmp_path / "out.duckdb").exists()


# --- what the limit errors show (issue #20's audit) -------------------------------------------

def test_money_limit_message_names_amounts_per_interval_only_for_mrr(tmp_path):
    from saas_retention.relations.rules import RULES

    per_interval = parse_settings({"as_of": AS_OF, "tables": {
        "subscriptions": {"amounts_per_interval": True}}})
    plain = parse_settings({"as_of": AS_OF})
    ranges = {(r.table, r.column): r for r in RULES if r.name == "amount_range"}
    assert "amounts_per_interval" in ranges[("subscriptions", "mrr")].message(per_interval)
    assert "amounts_per_interval" not in ranges[("subscriptions", "mrr")].message(plain)
    for where in (("survey_responses", "score"), ("events", "duration_seconds")):
        assert "amounts_per_interval" not in ranges[where].message(per_interval)
    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    write(tmp_path, "survey_responses.csv", ["customer_id,responded_at,survey,score",
                                             "c1,2024-02-01,nps,1e308"])
    (found,) = [p for p in problems_of(tmp_path, tables={
        "subscriptions": {"amounts_per_interval": True}, "survey_responses": {}})
        if p.startswith("error: survey_responses.score: values beyond")]
    assert "amounts_per_interval" not in found


def test_a_warehouse_shows_the_checked_time_column(tmp_path):
    """A bad resolved_at is shown with its own value, not the ticket's created_at."""
    import sqlite3

    from saas_retention.builders.warehouse.run import build_on_warehouse

    db = tmp_path / "w.sqlite"
    con = sqlite3.connect(db)
    con.execute("create table subscriptions (subscription_id text, customer_id text, "
                "start_date date, end_date date, mrr real)")
    con.executemany("insert into subscriptions values (?, ?, ?, ?, ?)",
                    [("s1", "c1", "2024-01-01", None, 100.0)])
    con.execute("create table support_tickets (customer_id text, created_at timestamp, "
                "resolved_at timestamp)")
    con.executemany("insert into support_tickets values (?, ?, ?)",
                    [("c1", "2024-02-01 10:00:00", "10000-01-01 00:00:00"),
                     ("c1", "2024-02-02 10:00:00", "2024-02-30 10:00:00")])
    con.commit()
    con.close()
    with pytest.raises(SourceProblems) as info:
        build_on_warehouse(f"sqlite:///{db}", parse_settings({
            "as_of": AS_OF, "tables": {"support_tickets": {}}}))
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.count) == ("support_tickets",
                                                              "resolved_at", 2)
    assert [sorted(e) for e in problem.examples] == [["customer_id", "resolved_at"]] * 2
    assert {e["resolved_at"] for e in problem.examples} == {"10000-01-01 00:00:00",
                                                             "2024-02-30 10:00:00"}


def test_infinite_dates_are_shown_as_given(tmp_path):
    import duckdb

    con = duckdb.connect()
    con.execute(f"copy (select 's1' as subscription_id, 'c1' as customer_id, "
                f"'infinity'::date as start_date, null::date as end_date, 10.0 as mrr) "
                f"to '{tmp_path / 'subscriptions.parquet'}' (format parquet)")
    con.close()
    found = one_problem(tmp_path)
    assert "subscriptions.start_date: dates outside the range" in found
    assert "start_date='infinity'" in found and "9999-12-31" not in found.split("e.g.")[1]


@pytest.mark.parametrize(("tool", "table", "line"), [
    ("zendesk", "support_tickets",
     {"id": 1, "created_at": 1e308, "status": "open", "requester_id": 7,
      "organization_id": "c1", "metric_set": {"solved_at": None}}),
    ("zendesk", "support_tickets",
     {"id": 2, "created_at": 1718000000, "status": "open", "requester_id": 7,
      "organization_id": "c1", "metric_set": {"solved_at": None}}),
])
def test_a_connector_time_that_is_no_time_is_refused(tmp_path, tool, table, line):
    """A Zendesk created_at given as a JSON number (epoch seconds, or a huge one): exit 3
    naming the tool's table and column, never the engine's ConversionException."""
    import json

    write(tmp_path, "subscriptions.csv", [HEADER, *GOOD])
    good = {"id": 9, "created_at": "2024-02-01T10:00:00Z", "status": "solved",
            "requester_id": 7, "organization_id": "c1",
            "metric_set": {"solved_at": "2024-02-02T10:00:00Z"}}
    write(tmp_path, f"{tool}_tickets.jsonl", [json.dumps(good), json.dumps(line)])
    config = write(tmp_path, "retention.yml", [
        f"as_of: {AS_OF}", "tables:", f"  {table}:", f"    connector: {tool}",
        "    customer: {property: organization_id}"])
    done = subprocess.run([sys.executable, "-m", "saas_retention.cli", "build", "--source",
                           str(tmp_path), "--config", str(config), "--database",
                           str(tmp_path / "o.duckdb"), "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == SourceError.exit_code, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{tool}_tickets.created_at: values that are not an ISO 8601 time" in done.stderr
    assert "(1 row)" in done.stderr and f"id='{line['id']}'" in done.stderr
    assert not (tmp_path / "o.duckdb").exists()

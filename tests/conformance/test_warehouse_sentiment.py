"""``feedback_sentiment`` built inside a warehouse (SQL, the lexicon classifier in the client,
SQL) gives the DuckDB build's rows: the warehouse selects the comments the template would
classify, the client labels them with the code behind DuckDB's ``classify_sentiment`` UDF and
writes them back as bound parameters, and the template reads the labels through a join."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest
from engines import DuckDBEngine, PostgresEngine, SQLiteEngine, pg_url
from sqlglot import exp
from test_voice import AS_OF, survey_rows
from test_voice import tables as voice_tables
from test_warehouse_events import (
    assert_same,
    reference,
    relation_rows,
    typed_tables,
)

from saas_retention.builders.warehouse.sentiment import LABELS, comments_ast, labelled_model
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings
from saas_retention.core.params import model_params
from saas_retention.udfs.sentiment import classify_sentiment_arrow

# a comment that is SQL-hostile: quotes of both kinds, semicolons, a percent sign (a parameter
# marker for pyformat drivers) and an injection attempt; it carries no label, so it is
# classified ("slow" and "broken" are negative, "great" is negated by nothing: -2 + 1)
HOSTILE = "He said \"it's great\"; but it's slow; 100% broken'); drop table calendar; --"

# on top of the voice fixtures: a repeated unlabelled comment (classified once, counted
# twice), a label in odd case and padding, an unknown label with a comment (classified) and
# without one (counted nowhere), a blank comment, a labelled comment that the classifier would
# label otherwise (the label wins), and the hostile comment
EXTRA = [
    "r3,2024-02-23 10:00:00,csat,2,Awful exports,",
    "r3,2024-02-24 10:00:00,csat,5,Slow exports, POSITIVE ",
    "r3,2024-02-25 10:00:00,csat,3,not bad at all,mixed",
    "r3,2024-02-26 10:00:00,csat,3,,mixed",
    "r3,2024-03-01 10:00:00,csat,3,   ,",
    "r3,2024-03-02 10:00:00,csat,1,Terrible and slow,positive",
    "r3,2024-03-03 10:00:00,csat,1,\"" + HOSTILE.replace('"', '""') + "\",",
]


def voice_case(extra: bool = True) -> tuple[dict[str, str], dict]:
    rows = survey_rows() + ("\n" + "\n".join(EXTRA) if extra else "")
    return voice_tables(survey_responses=rows), {"as_of": AS_OF}


def _duck_rows(ref):
    duck = DuckDBEngine()
    duck.con.close()
    duck.con = ref
    return relation_rows(duck, "feedback_sentiment")


def _load(engine, tables, settings) -> None:
    for name, (columns, rows) in typed_tables(tables, settings.get("timezone", "UTC"),
                                              aware=False).items():
        engine.load(name, columns, rows)


def _expected_labels(tables) -> dict[str, str]:
    """The comments DuckDB's template passes to the UDF, labelled by the UDF's code."""
    import csv
    import io

    wanted = []
    for r in csv.DictReader(io.StringIO(tables["survey_responses"].strip())):
        label = (r["sentiment"] or "").strip().lower()
        comment = r["comment"].strip()
        if label not in ("positive", "neutral", "negative") and comment:
            wanted.append(comment)
    wanted = sorted(set(wanted))
    return dict(zip(wanted, classify_sentiment_arrow(pa.array(wanted)).to_pylist(),
                    strict=True))


@pytest.mark.parametrize("extra", [False, True], ids=["voice", "voice+edge-cases"])
def test_feedback_sentiment_built_in_sqlite_matches_duckdb(tmp_path, extra):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, settings = voice_case(extra)
    ref, built = reference(tmp_path, tables, settings)
    path = tmp_path / "warehouse.sqlite"
    engine = SQLiteEngine()
    engine.con.close()
    engine.con = sqlite3.connect(path)
    try:
        assert "feedback_sentiment" in built
        _load(engine, tables, settings)
        engine.con.commit()
        result = build_on_warehouse(f"sqlite:///{path}", parse_settings(settings))
        assert "feedback_sentiment" in result.models
        assert "feedback_sentiment" not in result.skipped
        expected = _duck_rows(ref)
        classified = expected[0].index("classified_comments")
        assert sum(r[classified] for r in expected[1]) >= 2, "nothing was classified"
        assert_same(expected, relation_rows(engine, "feedback_sentiment"),
                    f"sqlite-build/{'extra' if extra else 'voice'}/feedback_sentiment")
        # the labels relation holds exactly the comments to classify, labelled by the UDF's
        # code — the hostile one byte for byte, so it went through as a parameter
        labels = dict(engine.rows(f'select comment, sentiment from "{LABELS}"')[1])
        assert labels == _expected_labels(tables)
        if extra:
            assert labels[HOSTILE] == "negative"
        leftovers = engine.rows("select name from sqlite_master where name like "
                                "'%sr_building'")[1]
        assert leftovers == []
    finally:
        ref.close()
        engine.close()


@pytest.mark.postgres
def test_feedback_sentiment_built_in_postgres_matches_duckdb(tmp_path, request):
    pytest.importorskip("sqlalchemy")
    dsn = request.getfixturevalue("pg_dsn")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, settings = voice_case()
    ref, _ = reference(tmp_path, tables, settings)
    engine = PostgresEngine(dsn)
    try:
        engine.execute("drop schema if exists sentiment_src cascade")
        engine.execute("drop schema if exists sentiment_out cascade")
        engine.execute("create schema sentiment_src")
        for name in tables:
            engine.execute(f'drop table if exists "{name}" cascade')
        _load(engine, tables, settings)
        for name in tables:
            engine.execute(f'alter table "{name}" set schema sentiment_src')
        for _ in range(2):  # a rebuild swaps the labels and the model in place
            result = build_on_warehouse(pg_url(dsn), parse_settings(settings),
                                        schema="sentiment_src", target_schema="sentiment_out")
        assert result.models["feedback_sentiment"] > 0
        assert_same(_duck_rows(ref),
                    relation_rows(engine, 'sentiment_out"."feedback_sentiment'),
                    "postgres-build/feedback_sentiment")
        labels = dict(engine.rows(
            f'select comment, sentiment from sentiment_out."{LABELS}"')[1])
        assert labels == _expected_labels(tables)
        assert labels[HOSTILE] == "negative"
    finally:
        ref.close()
        engine.close()


def test_build_without_survey_responses_skips_feedback_sentiment(tmp_path):
    pytest.importorskip("sqlalchemy")
    from saas_retention.builders.warehouse.run import build_on_warehouse

    tables, settings = voice_case()
    path = tmp_path / "warehouse.sqlite"
    engine = SQLiteEngine()
    engine.con.close()
    engine.con = sqlite3.connect(path)
    try:
        _load(engine, {"subscriptions": tables["subscriptions"]}, settings)
        engine.con.commit()
        result = build_on_warehouse(f"sqlite:///{path}", parse_settings(settings))
        assert "feedback_sentiment" not in result.models
        assert result.skipped["feedback_sentiment"] == "input table survey_responses absent"
    finally:
        engine.close()


def test_comments_query_selects_exactly_the_rows_the_udf_would_label(tmp_path):
    """Run on the DuckDB reference's staging, the warehouse's step 1 returns the comments the
    template's CASE sends to classify_sentiment()."""
    tables, settings = voice_case()
    ref, _ = reference(tmp_path, tables, settings)
    try:
        parsed = parse_settings(settings)
        sql = comments_ast(model_params(parsed), parsed.grain).sql("duckdb")
        got = sorted(r[0] for r in ref.execute(sql).fetchall())
        assert got == sorted(_expected_labels(tables))
    finally:
        ref.close()


def test_labelled_model_reads_the_labels_relation():
    model = labelled_model(load_catalog())
    assert LABELS in model.relations
    # (the template's header comment still names the UDF: look at the calls)
    assert not [c for c in model.ast.find_all(exp.Anonymous)
                if c.name.lower() == "classify_sentiment"]
    assert model.engines == ()
    # the shipped model stays DuckDB-only: the standalone SQL cannot classify
    assert list(load_catalog().models["feedback_sentiment"].engines) == ["duckdb"]


@pytest.mark.parametrize("engine_name", ["clickhouse", pytest.param("spark",
                                                                  marks=pytest.mark.slow)])
def test_feedback_sentiment_steps_on_engine_match_duckdb(tmp_path, request, engine_name):
    """The three steps of the warehouse build — comments to label in SQL, the lexicon in the
    client, the template over ``feedback_sentiment_labels`` in SQL — on ClickHouse (chdb) and
    Spark, which the SQLAlchemy build cannot reach here: the DuckDB build's rows."""
    from test_warehouse import make_engine
    from test_warehouse_events import target_for

    from saas_retention.builders.warehouse.sentiment import (
        RELATIONS,
        comments_query,
        label_rows,
        labelled_query,
    )
    from saas_retention.dialects import with_query_settings
    from saas_retention.relations.graph import relation_order, relation_sql

    tables, settings = voice_case()
    ref, _ = reference(tmp_path, tables, settings)
    engine = make_engine(engine_name, request)
    try:
        _load(engine, tables, settings)
        target = target_for(engine, tables, settings, aware=False)
        for name in relation_order("feedback_sentiment"):
            if name != "feedback_sentiment":  # what it reads: RELATIONS and their inputs
                engine.materialise(name, relation_sql(name, target, pretty=False))
        assert set(RELATIONS) <= set(relation_order("feedback_sentiment"))
        comments = [r[0] for r in engine.rows(
            with_query_settings(comments_query(target), engine.dialect)
            .sql(dialect=engine.dialect))[1]]
        labels = label_rows(comments)
        assert {r["comment"]: r["sentiment"] for r in labels} == _expected_labels(tables)
        engine.load(LABELS, [("comment", "text"), ("sentiment", "text")],
                    [(r["comment"], r["sentiment"]) for r in labels])
        engine.materialise("feedback_sentiment", with_query_settings(
            labelled_query(target), engine.dialect).sql(dialect=engine.dialect))
        assert_same(_duck_rows(ref), relation_rows(engine, "feedback_sentiment"),
                    f"{engine_name}/feedback_sentiment")
    finally:
        ref.close()
        engine.close()

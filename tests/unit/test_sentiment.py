"""The built-in lexicon sentiment classifier and its Arrow UDF registration."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from saas_retention.udfs.arrow import register_arrow_udfs
from saas_retention.udfs.sentiment import (
    classify_sentiment_arrow,
    register_sentiment_udf,
    sentiment_scores,
)

CASES = [
    ("Great product, saves us hours every week.", "positive"),
    ("Support was quick and helpful.", "positive"),
    ("The app is slow and the reports break.", "negative"),
    ("Too expensive for what we use.", "negative"),
    ("It works.", "neutral"),
    ("", "neutral"),
    # English negation
    ("not good", "negative"),
    ("This is not bad at all", "positive"),
    ("I don't like the new editor", "negative"),
    ("Never reliable", "negative"),
    # a clause break stops the negation: "not" does not reach "helpful"
    ("Not cheap, but helpful", "positive"),
    # French, with elision and negation
    ("Très facile à utiliser, merci !", "positive"),
    ("Trop cher et lent", "negative"),
    ("Ce n'est pas bon", "negative"),
    ("pas mal du tout", "positive"),
    ("Je n'aime pas l'interface", "negative"),
    ("Génial", "positive"),
    ("GENIAL", "positive"),
]


@pytest.mark.parametrize(("text", "label"), CASES)
def test_labels(text, label):
    assert classify_sentiment_arrow(pa.array([text])).to_pylist() == [label]


def test_nulls_and_chunks():
    assert classify_sentiment_arrow(pa.array([None, "good", None])).to_pylist() == [
        None, "positive", None]
    chunked = pa.chunked_array([pa.array(["bad"]), pa.array(["good", None])])
    assert classify_sentiment_arrow(chunked).to_pylist() == ["negative", "positive", None]
    assert classify_sentiment_arrow(pa.array([], pa.string())).to_pylist() == []
    assert classify_sentiment_arrow(pa.array([None, None])).to_pylist() == [None, None]
    assert sentiment_scores(pa.array(["good great", "not good", None])).to_pylist() == [
        2, -1, None]


def test_negation_does_not_leak_between_comments():
    # "not" ends the first comment; it must not negate the next comment's first word
    got = classify_sentiment_arrow(pa.array(["I would say not", "good"])).to_pylist()
    assert got == ["neutral", "positive"]


def test_udf_in_duckdb_idempotent_and_longer_than_a_vector():
    n = duckdb.__standard_vector_size__ * 3 + 5
    con = duckdb.connect()
    try:
        register_sentiment_udf(con)
        register_sentiment_udf(con)  # idempotent
        register_arrow_udfs(con)  # the package's registration includes it
        got = con.execute(
            "select classify_sentiment(case when i % 3 = 0 then 'great' "
            "when i % 3 = 1 then 'pas bon' end) as label from range(?) t(i) order by i", [n]
        ).fetchall()
    finally:
        con.close()
    labels = [r[0] for r in got]
    assert len(labels) == n
    assert labels[:3] == ["positive", "negative", None]
    assert labels.count("positive") == (n + 2) // 3

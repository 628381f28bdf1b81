"""``feedback_sentiment`` on any warehouse: SQL around labels made by the client.

The template labels a comment that carries no sentiment with the ``classify_sentiment`` Arrow
UDF (udfs/sentiment.py), a Python lexicon classifier no warehouse can run. So a warehouse build
splits the model in three, as cohort_value does (value.py):

1. SQL in the warehouse: the distinct comments the template would classify — exactly the rows
   whose ``CASE`` branch calls the UDF (no sentiment label, a non-blank comment);
2. the client fetches them and labels them with ``classify_sentiment_arrow``, the very function
   the DuckDB UDF calls; the labels are written back, as bound parameters, to the relation
   ``feedback_sentiment_labels(comment, sentiment)`` (client.py: the flow both client-step
   models share);
3. SQL in the warehouse: the template with the UDF call replaced by a left join on the comment
   into ``feedback_sentiment_labels``.

The classifier labels each comment on its own (negation never reaches across comments), so
labelling the distinct comments once gives the labels DuckDB gives row by row. The shipped
standalone SQL cannot do step 2, so sql/dist has no feedback_sentiment file.

Caveat: the join compares comments with the warehouse's own text equality. On engines whose
default collation ignores case, accents or trailing spaces (MySQL, SQL Server), comments equal
under that collation share the label of the one the warehouse returned for the group.
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp

from saas_retention.builders.warehouse.client import ClientStep
from saas_retention.catalog.compile import model_ast
from saas_retention.catalog.templates import READ_DIALECT, Catalog, Model, load_catalog
from saas_retention.core.errors import TemplateError
from saas_retention.core.params import model_params

MODEL = "feedback_sentiment"
LABELS = "feedback_sentiment_labels"
UDF = "classify_sentiment"
LABEL_COLUMNS = ("comment", "sentiment")
# the relations the model reads in the warehouse (steps 1 and 3)
RELATIONS = ("stg_survey_responses", "calendar")
# the arg holding a SELECT's FROM ("from_" since sqlglot 28; "from" before)
FROM_KEY = "from_" if "from_" in exp.Select.arg_types else "from"


def _udf_call(tree: exp.Expression) -> exp.Anonymous:
    """The template's one ``classify_sentiment(<comment>)``, a THEN of a CASE in a CTE whose
    SELECT reads one relation (so its columns can be qualified with that relation)."""
    calls = [c for c in tree.find_all(exp.Anonymous) if c.name.lower() == UDF]
    if len(calls) != 1 or len(calls[0].expressions) != 1:
        raise TemplateError(f"model {MODEL!r}: the warehouse split expects one {UDF}(comment) "
                            "call; update saas_retention/builders/warehouse/sentiment.py")
    call = calls[0]
    branch, select = call.parent, call.find_ancestor(exp.Select)
    if (not isinstance(branch, exp.If) or branch.args.get("true") is not call
            or not isinstance(branch.parent, exp.Case) or select is None
            or select.args.get("joins") or not isinstance(select.args[FROM_KEY].this, exp.Table)):
        raise TemplateError(f"model {MODEL!r}: the warehouse split expects {UDF}() as a THEN of "
                            "a CASE in a SELECT from one relation; update "
                            "saas_retention/builders/warehouse/sentiment.py")
    return call


def _template(catalog: Catalog | None, dialect: str, params: dict, grain: str,
              model: Model | None = None) -> exp.Expression:
    catalog = catalog or load_catalog()
    return model_ast(model or catalog.models[MODEL], grain=grain, params=params,
                     catalog=catalog, dialect=dialect)


def comments_ast(params: dict, grain: str, catalog: Catalog | None = None,
                 dialect: str = "duckdb") -> exp.Query:
    """SELECT DISTINCT comment: the comments the template would pass to the UDF.

    The filter is the template's own CASE with each branch's value replaced by whether it is
    the UDF's branch, so it selects exactly the rows that reach the call (earlier WHENs that
    match — a sentiment label — keep a row out), whatever the CASE says in future."""
    tree = _template(catalog, dialect, params, grain)
    call = _udf_call(tree)
    case = call.parent.parent.copy()
    for branch in case.args["ifs"]:
        reaches = any(a.name.lower() == UDF for a in branch.args["true"].find_all(exp.Anonymous))
        branch.set("true", exp.Literal.number(1 if reaches else 0))
    case.set("default", exp.Literal.number(0))
    select = call.find_ancestor(exp.Select)
    query = (exp.select(exp.alias_(call.expressions[0].copy(), "comment"))
             .distinct()
             .from_(select.args[FROM_KEY].this.copy())
             .where(exp.EQ(this=case, expression=exp.Literal.number(1))))
    if select.args.get("where"):
        query = query.where(select.args["where"].this.copy())
    # only the CTEs the query reads, transitively: the one calling the UDF (and those after
    # it) must not reach the warehouse, which would reject the unknown function
    ctes = list(tree.find_all(exp.CTE))
    needed = {t.name for t in query.find_all(exp.Table)}
    kept = []
    for cte in reversed(ctes):
        if cte.alias in needed:
            kept.append(cte)
            needed |= {t.name for t in cte.this.find_all(exp.Table)}
    for cte in reversed(kept):
        query = query.with_(cte.alias, cte.this.copy())
    return query


def labelled_model(catalog: Catalog | None = None) -> Model:
    """The template with ``classify_sentiment(comment)`` read from ``feedback_sentiment_labels``
    through a left join on the comment."""
    catalog = catalog or load_catalog()
    model = catalog.models[MODEL]
    tree = model.ast.copy()
    call = _udf_call(tree)
    select = call.find_ancestor(exp.Select)
    source = select.args[FROM_KEY].this
    name = source.alias_or_name
    # the labels relation has columns named like the responses': qualify the select's own
    # (its only relation is `source`) before joining, so none becomes ambiguous
    for column in list(select.find_all(exp.Column)):
        if not column.table and not isinstance(column.this, exp.Star):
            column.set("table", exp.to_identifier(name))
    comment = call.expressions[0].copy()
    call.replace(exp.column("sentiment", LABELS))
    select.join(exp.to_table(LABELS), on=exp.EQ(this=exp.column("comment", LABELS),
                                                 expression=comment),
                join_type="left", copy=False)
    return dataclasses.replace(model, sql=tree.sql(READ_DIALECT), engines=())


def labels_table_ast(table: exp.Table) -> exp.Create:
    """CREATE TABLE <table> (comment TEXT, sentiment TEXT): declared types, not a CREATE AS of
    typed NULLs, which MySQL would make zero-length columns."""
    columns = [exp.ColumnDef(this=exp.to_identifier(c, quoted=True),
                             kind=exp.DataType.build("TEXT")) for c in LABEL_COLUMNS]
    return exp.Create(this=exp.Schema(this=table, expressions=columns), kind="TABLE")


def label_rows(comments: list) -> list[dict[str, str]]:
    """(comment, sentiment) rows from the fetched comments, through the DuckDB UDF's code."""
    import pyarrow as pa

    from saas_retention.udfs.sentiment import classify_sentiment_arrow

    texts = list(dict.fromkeys(c for c in comments if c is not None))
    labels = classify_sentiment_arrow(pa.array(texts, pa.string())).to_pylist()
    return [{"comment": c, "sentiment": s} for c, s in zip(texts, labels, strict=True)]


def _finish(tree: exp.Expression, t) -> exp.Expression:
    """The post-processing relation_ast gives a model, plus the labels relation's schema."""
    from saas_retention.relations.graph import for_engine

    return for_engine(tree, t, load_catalog(), extra=(LABELS,))


def comments_query(t) -> exp.Query:
    """The SQL of step 1 for the warehouse ``t``."""
    return _finish(comments_ast(model_params(t.settings), t.settings.grain,
                                dialect=t.dialect), t)


def labelled_query(t) -> exp.Query:
    """The SQL of step 3: feedback_sentiment from the warehouse relations and the labels."""
    catalog = load_catalog()
    tree = model_ast(labelled_model(catalog), grain=t.settings.grain,
                     params=model_params(t.settings), dimensions=t.dimensions,
                     catalog=catalog, dialect=t.dialect)
    return _finish(tree, t)


def label_dicts(fetched, t) -> list[dict[str, str]]:
    """Step 2: the labels of the comments step 1 fetched (one column)."""
    return label_rows([r[0] for r in fetched])


STEP = ClientStep(model=MODEL, relation=LABELS, columns=LABEL_COLUMNS, fetch=comments_query,
                  compute=label_dicts, create=labels_table_ast, query=labelled_query)

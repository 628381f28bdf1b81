"""Every staging relation the models read, by name, with the relations each one reads: the one
list both builds (DuckDB and warehouse) and the shipped SQL stage from."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from saas_retention.core.contract import TABLES
from saas_retention.relations import events, staging, terms
from saas_retention.relations.target import Target

STAGING: dict[str, Callable[[Target], exp.Query]] = {
    "stg_subscriptions": staging.stg_subscriptions,
    "stg_subscription_terms": terms.stg_subscription_terms,
    "stg_customers": staging.stg_customers,
    "stg_customer_dimensions": staging.stg_customer_dimensions,
    "calendar": staging.calendar,
    **events.STAGING,
}
# relations each staging relation reads (besides the user's source tables)
STAGING_DEPS: dict[str, list[str]] = {
    "stg_customers": ["stg_subscriptions"],
    "stg_customer_dimensions": ["stg_customers"],
    "calendar": ["stg_subscriptions"],
    "stg_subscription_terms": ["stg_subscriptions"],
    **events.STAGING_DEPS,
}
# Relations the warehouse staging provides; models needing others stay DuckDB-only.
WAREHOUSE_RELATIONS = tuple(STAGING)

# The key of each staging relation (unique together, never NULL; () = none: a dated table may
# hold the same row twice): what the dbt package tests (export/dbt.py). The contract's keys
# hold because a duplicate or empty key is bad input (relations/rules.py) every build refuses.
STAGING_KEYS: dict[str, tuple[str, ...]] = {
    "stg_subscriptions": TABLES["subscriptions"].key,
    # the anniversaries lie before the row's end_date, its final term end (terms.py)
    "stg_subscription_terms": (*TABLES["subscriptions"].key, "term_end"),
    "stg_customers": TABLES["customers"].key,
    "stg_customer_dimensions": (*TABLES["customers"].key, "dimension"),
    "calendar": ("period_index",),
    **{f"stg_{table}": () for table in events.DATED_TABLES},
    "calendar_days": ("day_index",),
}
# the contract table whose column descriptions a staging relation's columns of the same name
# take (core/contract.py), and the descriptions of the columns it adds (next to the code
# making them)
STAGING_CONTRACT: dict[str, str] = {
    "stg_subscriptions": "subscriptions",
    "stg_subscription_terms": "subscriptions",
    "stg_customers": "customers",
    "stg_customer_dimensions": "customers",
    **{f"stg_{table}": table for table in events.DATED_TABLES},
}
STAGING_DOCS: dict[str, dict[str, str]] = {
    **staging.DOCS,
    "stg_subscription_terms": {**staging.DOCS["stg_subscriptions"], **terms.DOCS},
    **events.DOCS,
}


def staging_column_docs(name: str, columns: list[str], extra: dict[str, str] | None = None
                        ) -> dict[str, str]:
    """The description of each column of staging relation ``name`` (``columns``: its SELECT's
    names): the relation's own, else the contract column's, else ``extra``'s (the source's
    dimensions); a column with none is an error, so a new column cannot go undocumented."""
    extra = extra or {}
    own = STAGING_DOCS.get(name, {})
    contract = TABLES[STAGING_CONTRACT[name]] if name in STAGING_CONTRACT else None
    docs = {}
    for column in columns:
        if column in own:
            docs[column] = own[column]
        elif contract is not None and any(c.name == column for c in contract.columns):
            docs[column] = contract.column(column).description
        elif column in extra:
            docs[column] = extra[column]
        else:
            raise KeyError(f"{name}.{column}: no description (relations/registry.py "
                           "STAGING_DOCS)")
    return docs

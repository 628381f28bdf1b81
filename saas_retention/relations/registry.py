"""Every staging relation the models read, by name, with the relations each one reads: the one
list both builds (DuckDB and warehouse) and the shipped SQL stage from."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

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

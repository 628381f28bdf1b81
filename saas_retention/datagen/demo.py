"""The demo data set: a small size of the synthetic generator, written into DuckDB.

``generate(path_or_con, customers=2000, months=36, seed=42)`` writes six tables into DuckDB:
``customers``, ``subscriptions``, ``events``, ``survey_responses``, ``referrals`` and
``support_tickets``, in the input contract (docs/definitions.md#input-contract). The same seed
always gives identical tables.

The rows are those of :func:`saas_retention.datagen.synthetic.generate_parquet` with the same
arguments — one generator, whose benchmark sizes stream to Parquet and whose demo size lands in
DuckDB tables. What the data contains, so every metric has something to show:

- signups growing over the ``months`` calendar months ending at ``end_date``;
- a 14-day free trial (mrr 0, ``is_trial``) for most customers; some trials never convert;
- plans starter / growth / pro / enterprise with different prices, monthly and annual billing
  (annual mrr = annual price / 12, 12-month terms that renew or not);
- upgrades, downgrades and monthly→annual switches as "end the old subscription and start the
  new one on the same day", on arbitrary days of the month;
- add-on subscriptions running in parallel with the main one (cancelling one = contraction);
- churn with a ``cancel_reason``, hazards that differ by segment, plan and a latent customer
  health; some churned customers come back after a gap (reactivation);
- product events in sessions (more for healthier customers, fewer on weekends, fading in the
  weeks before a churn), NPS / CSAT survey responses with comments and sentiment, referrals
  (some never converted) and support tickets (more before a ``poor_support`` churn).

``customers.plan`` is the plan chosen at signup (later plan changes live in ``subscriptions``).
Nothing is dated after ``end_date``: a subscription whose end would fall after it is still
running (``end_date`` NULL), and no event, response, ticket or referral happens after it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from saas_retention.datagen.synthetic import blocks
from saas_retention.datagen.world import CANCEL_REASONS, EVENT_NAMES, PLANS, SEGMENTS

__all__ = ["generate", "TABLE_NAMES", "PLANS", "SEGMENTS", "EVENT_NAMES", "CANCEL_REASONS",
           "EVENTS_PER_CUSTOMER_MONTH"]

TABLE_NAMES = (
    "customers",
    "subscriptions",
    "events",
    "survey_responses",
    "referrals",
    "support_tickets",
)
# The benchmark's default density (``generate_parquet``): one generator, one world; the demo
# differs from a benchmark source only in its size.
EVENTS_PER_CUSTOMER_MONTH = 10.0
# customers drawn per block: the benchmark's block size, so a demo of any size has the rows of
# the Parquet source of the same arguments
_CHUNK = 10_000


def generate(
    path_or_con: Any,
    *,
    customers: int = 2000,
    months: int = 36,
    seed: int = 42,
    end_date: dt.date = dt.date(2025, 12, 31),
    events: bool = True,
    events_per_customer_month: float = EVENTS_PER_CUSTOMER_MONTH,
) -> dict[str, int]:
    """Write the synthetic data set; return the row count of every table written.

    ``path_or_con`` is a DuckDB database path (created, or overwritten if it exists) or an open
    ``duckdb.DuckDBPyConnection`` (tables are replaced in its current schema). With
    ``events=False`` the ``events`` table is not written (and dropped if present); the other
    tables are the same either way.
    """
    import duckdb

    if isinstance(customers, bool) or int(customers) != customers or customers < 1:
        raise ValueError(f"customers must be a positive integer, got {customers!r}")
    if isinstance(months, bool) or int(months) != months or months < 1:
        raise ValueError(f"months must be a positive integer, got {months!r}")
    if isinstance(end_date, dt.datetime):
        end_date = end_date.date()
    if not isinstance(end_date, dt.date):
        raise TypeError(f"end_date must be a datetime.date, got {type(end_date).__name__}")
    if not events_per_customer_month >= 0:
        raise ValueError("events_per_customer_month must be >= 0, got "
                         f"{events_per_customer_month!r}")

    drawn = blocks(int(customers), int(months), float(events_per_customer_month), int(seed),
                   end_date, _CHUNK)
    if isinstance(path_or_con, duckdb.DuckDBPyConnection):
        return _write(path_or_con, drawn, events)
    path = os.fspath(path_or_con)
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(path)
    try:
        return _write(con, drawn, events)
    finally:
        con.close()


def _write(con, drawn, with_events: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    for index, tables in enumerate(drawn):
        for name in TABLE_NAMES:
            if name == "events" and not with_events:
                continue
            src = f"__saas_retention_demo_{name}"
            con.register(src, tables[name])
            try:
                if index == 0:
                    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {src}")
                else:
                    con.execute(f"INSERT INTO {name} SELECT * FROM {src}")
            finally:
                con.unregister(src)
            counts[name] = counts.get(name, 0) + tables[name].num_rows
    if not with_events:
        con.execute("DROP TABLE IF EXISTS events")
    return counts

"""Refreshing the sessions model (``incremental: sessions``) from a period on.

A session belongs to the period its first event is in, and it is either the events sharing a
``session_id`` (per customer, over the whole history) or a run of one user's events less than
the timeout apart. A refresh replaces the events from its first day (``from_day``) on; the
sessions that can change are those holding an event of those days, before or after the
refresh. Their first periods are found here, from the kept events:

* a gap session holding events from ``from_day`` on either starts on ``from_day`` or later,
  or is the session that holds the user's last kept event (it continues when the next event
  is within the timeout): its start is found by walking back through the user's kept events,
  a period at a time, until it is known to start in or after the period looked at;
* an id session holding events from ``from_day`` on (old or new) starts in the first period
  holding an event of its id: a scan of the events whose ids were seen from ``from_day`` on.

Every period from the earliest of those on is then recomputed exactly, from an input made of
the events of those periods and two kinds of context, so that the model's own SQL, unchanged,
gives the right rows from that period on (its rows of earlier periods are dropped):

* the kept events without a session id of the timeout before the first period: a run that
  started before the period continues into it, and its first event is then not a start (its
  session, starting earlier, is dropped with the earlier periods' rows);
* the ids that also hold events before the first period are left out (their sessions start
  earlier and are unchanged).

Sessions never span customers, so all of this is done for the customers whose events were
replaced alone (``customers``); the other customers' rows are kept as they are.
"""

from __future__ import annotations

from saas_retention.core.config import Settings
from saas_retention.core.periods import EPOCH, period_start

SECONDS_PER_DAY = 86400
INPUT = "sr_sessions_input"  # the temp table the model reads as stg_events


def _start_second(period: int, settings: Settings) -> int:
    day = period_start(period, settings.grain, settings.week_start)
    return (day - EPOCH).days * SECONDS_PER_DAY


def refresh_input(con, table: str, first_day: int, from_period: int, settings: Settings,
                  timeout: int, old_ids: str, customers: str | None = None) -> int:
    """Make ``sr_sessions_input`` and return the first period whose sessions may differ from
    the previous build's, when the events from day ``first_day`` (days since 1970-01-01; in
    period ``from_period``) on were replaced in ``table``. ``old_ids``: a relation of the
    (customer_id, session_id) pairs the replaced events had. ``customers``: a relation of
    customer ids holding every customer whose events were replaced; given, the input holds
    their events alone (sessions never span customers, so the others' are unchanged)."""
    first = from_period
    only = (f"customer_id in (select customer_id from {customers})" if customers
            else "customer_id is not null")
    # gap sessions: walk back a period at a time while the open runs start before the period
    while True:
        floor = _start_second(first, settings) - timeout  # negative before 1970
        start = _open_gap(con, table, first_day, floor, timeout, only)
        if start is None or start >= first:
            break
        first = start
    # id sessions: the first period of every id of the recomputed periods and of the replaced
    # events, in one scan; an id touched by the replaced days pulls the first period back to
    # its own (then the ids of the periods added are looked up too)
    while True:
        con.execute(f"""
            create or replace temp table sr_session_firsts as
            with ids as (
                select customer_id, session_id from {old_ids}
                union
                select customer_id, session_id from {table}
                where period_index >= ? and session_id is not null and {only}
            )
            select e.customer_id, e.session_id, min(e.period_index) as first_period,
                max(e.day_index) >= ? as touched
            from (select * from {table} where {only}) e semi join ids
                on e.customer_id = ids.customer_id and e.session_id = ids.session_id
            group by e.customer_id, e.session_id
            """, [first, first_day])
        # an id of the replaced events that the new ones no longer have is touched too
        row = con.execute(f"""
            select min(f.first_period) from sr_session_firsts f
            where f.touched or exists (select 1 from {old_ids} o where
                o.customer_id = f.customer_id and o.session_id = f.session_id)
            """).fetchall()
        if row[0][0] is None or row[0][0] >= first:
            break
        first = row[0][0]
    _make_input(con, table, first, settings, timeout, only)
    return first


def _open_gap(con, table: str, first_day: int, floor: int, timeout: int,
              only: str) -> int | None:
    return con.execute(f"""
        with ev as (
            select customer_id, user_id, period_index, second_index as s
            from {table}
            where session_id is null and {only}
              and day_index < ? and second_index >= ?
        ),
        flagged as (
            select *, case when lag(s) over w is null or s - lag(s) over w > ? then 1
                           else 0 end as is_start
            from ev window w as (partition by customer_id, user_id order by s)
        ),
        numbered as (
            select *, sum(is_start) over (partition by customer_id, user_id order by s
                range between unbounded preceding and current row) as n
            from flagged
        ),
        last_runs as (
            select customer_id, user_id, max(n) as n
            from numbered group by customer_id, user_id
            having max(s) >= ?
        )
        select min(period_index)
        from numbered join last_runs using (customer_id, user_id, n)
        """, [first_day, floor, timeout, first_day * SECONDS_PER_DAY - timeout]).fetchall()[0][0]


def _make_input(con, table: str, first: int, settings: Settings, timeout: int,
                only: str) -> None:
    """``sr_sessions_input``: what the sessions model reads as its events to give its rows of
    the periods from ``first`` on (see the module's docstring)."""
    start = _start_second(first, settings)
    # the periods' events and the runs' context, but the ids seen earlier (a NULL session_id
    # never matches, so the context stays). Two disjoint scans, not one with an OR: a
    # comparison with a constant is applied inside the scan, so the other columns of the
    # rows it rejects are never read (an OR is evaluated after reading them all)
    con.execute(f"""
        create or replace temp table {INPUT} as
        select e.* from (
            select * from {table} where period_index >= $first
            union all
            select * from {table}
            where period_index < $first and second_index >= $start - $timeout
                and session_id is null
        ) e
        anti join (select customer_id, session_id from sr_session_firsts
                   where first_period < $first) earlier
            on e.customer_id = earlier.customer_id and e.session_id = earlier.session_id
        where e.{only}
        """, {"first": first, "start": start, "timeout": timeout})

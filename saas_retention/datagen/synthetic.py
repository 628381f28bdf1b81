"""Synthetic SaaS data at benchmark scale, streamed to Parquet one block of customers at a time.

``generate_parquet(out_dir, customers=10_000, months=36)`` writes a directory source that
``saas-retention build --source out_dir`` reads as it is::

    customers.parquet  subscriptions.parquet  survey_responses.parquet  support_tickets.parquet
    referrals.parquet  events/part-00000.parquet  events/part-00001.parquet  …

The world is the one of :mod:`saas_retention.datagen.demo` (its plans, prices, segments, hazards,
trials, annual billing, add-ons, reactivations, activity fading before a churn…), drawn with
numpy for a whole block of customers at once instead of the demo's per-customer state machine:

- customer ids follow signup order (signups grow 4 % a month over ``months`` months ending at
  ``end_date``): customer ``i``'s signup is a stratified quantile of that distribution, so a
  block needs nothing from the blocks before it;
- a paying life lasts a geometric number of months (annual plans: of yearly terms) with the
  demo's hazard by segment, plan and health; plan changes, monthly → annual switches and
  add-ons happen on arbitrary days inside it; a churned customer may come back once;
- events come in sessions (a login, then basic or advanced features), more for healthier
  customers, fewer on weekends and fading over the 42 days before a churn;
  ``events_per_customer_month`` is the mean number of events per active customer-month
  (10 gives about 100M events for 1M customers over 36 months).

Memory is bounded by ``chunk_customers``: one block's arrays, then its row groups are written
and dropped (about 0.8 GB peak at the default 10,000 customers, ~1M events, per block, whatever
the total). The same ``seed`` and ``chunk_customers`` always give identical files.

>>> import tempfile
>>> counts = generate_parquet(tempfile.mkdtemp(), customers=200, months=6, seed=1)
>>> counts["customers"], counts["events"] > 0
(200, True)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from saas_retention.datagen.demo import (
    ADDON_PRICE,
    ADDON_REASON_P,
    ADVANCED_EVENTS,
    ADVANCED_P,
    ANNUAL_MONTHS_CHARGED,
    ANNUAL_P,
    BASIC_EVENTS,
    BASIC_P,
    CANCEL_REASONS,
    CHANNEL_P,
    CHANNELS,
    CHURN_BASE,
    COMMENT_P,
    COMMENTS,
    COUNTRIES,
    COUNTRY_P,
    COUNTRY_UTC_OFFSET,
    CSAT_P,
    DECLINE_DAYS,
    EVENT_NAMES,
    EVENTS_PER_SESSION,
    NPS_DAILY_P,
    PLAN_CHURN,
    PLAN_P,
    PLAN_PRICE,
    PLANS,
    POOR_SUPPORT,
    REACTIVATE_P,
    REASON_P,
    RESOLUTION_HOURS,
    SEATS,
    SEGMENT_P,
    SEGMENTS,
    SENTIMENTS,
    TICKET_RATE,
    TRIAL_CONVERT,
    TRIAL_DAYS,
    TRIAL_P,
    USERS_BASE,
)

__all__ = ["generate_parquet", "TABLES"]

TABLES = ("customers", "subscriptions", "events", "survey_responses", "support_tickets",
          "referrals")

_DAY_US = 86_400_000_000
_MONTH_DAYS = 365.2425 / 12
_WEEKEND_KEEP = 0.25  # sessions on Saturdays and Sundays, relative to weekdays
_WEEK_ACTIVITY = (5 + 2 * _WEEKEND_KEEP) / 7
_TRIAL_ACTIVITY = 1.2  # trials explore the product
_MAX_PLAN_CHANGES = 4  # per paying life
_ADDON_P = 0.35  # share of lives on a plan with an add-on that take one (healthy ones more)


def _schemas():
    import pyarrow as pa

    ts, date, s, f64, i32 = pa.timestamp("us"), pa.date32(), pa.string(), pa.float64(), pa.int32()
    return {
        "customers": pa.schema([("customer_id", s), ("signup_date", date), ("plan", s),
                                ("segment", s), ("country", s), ("channel", s)]),
        "subscriptions": pa.schema([("subscription_id", s), ("customer_id", s),
                                    ("start_date", date), ("end_date", date), ("mrr", f64),
                                    ("is_trial", pa.bool_()), ("billing_interval", s),
                                    ("cancel_reason", s)]),
        "events": pa.schema([("customer_id", s), ("user_id", s), ("event_time", ts),
                             ("event_name", s), ("session_id", s), ("duration_seconds", f64)]),
        "survey_responses": pa.schema([("customer_id", s), ("responded_at", ts), ("survey", s),
                                       ("score", i32), ("comment", s), ("sentiment", s)]),
        "support_tickets": pa.schema([("customer_id", s), ("created_at", ts),
                                      ("resolved_at", ts)]),
        "referrals": pa.schema([("referrer_customer_id", s), ("referred_at", ts),
                                ("referred_customer_id", s)]),
    }


# --------------------------------------------------------------------------------------------
# Vectorised helpers (days are integers: days since 1970-01-01)
# --------------------------------------------------------------------------------------------
def _add_months(days: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The same day of month ``k`` months later, clamped to the month's last day."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    dom = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(k, dtype=np.int64).astype("timedelta64[M]")
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(dom, length - 1)


def _choice(rng: np.random.Generator, probs, rows: np.ndarray | None = None,
            n: int | None = None) -> np.ndarray:
    """Categorical draws: ``probs`` (k,) for ``n`` draws, or a table (m, k) indexed by ``rows``."""
    cum = np.cumsum(np.asarray(probs, dtype=float), axis=-1)
    cum[..., -1] = 1.0
    if rows is None:
        return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)
    cum = cum[rows]
    return (rng.random(len(rows))[:, None] >= cum).sum(axis=1).astype(np.int64)


def group_positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, … within each group of a ``np.repeat(…, counts)`` layout."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _utc_us(day: np.ndarray, local_seconds: np.ndarray, offset_hours: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch (millisecond precision) of a local time on a day."""
    sec = day.astype(np.int64) * 86_400 + local_seconds - offset_hours * 3600.0
    return np.round(sec * 1e3).astype(np.int64) * 1000


def _strings(labels, codes: np.ndarray, mask: np.ndarray | None = None):
    import pyarrow as pa

    return pa.array(np.asarray(labels, dtype=object)[codes], pa.string(), mask=mask)


class _Ids:
    """Zero-padded text ids built by Arrow kernels (``C0000042``), never a Python loop."""

    def __init__(self, width: int):
        self.width = width

    def __call__(self, prefix: str, numbers: np.ndarray, width: int | None = None):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()),
                            width=width or self.width, padding="0")
        return pc.binary_join_element_wise(prefix, text, "")


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------
def generate_parquet(
    out_dir: str | os.PathLike,
    *,
    customers: int = 10_000,
    months: int = 36,
    events_per_customer_month: float = 10.0,
    seed: int = 42,
    end_date: dt.date = dt.date(2025, 12, 31),
    chunk_customers: int = 10_000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the Parquet source into ``out_dir``; return the row count of every table.

    Existing files of these tables in ``out_dir`` are replaced (the ``events`` folder is
    emptied first, so no part of an earlier, bigger run survives).
    """
    import pyarrow.parquet as pq

    for name, value in (("customers", customers), ("months", months),
                        ("chunk_customers", chunk_customers)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not events_per_customer_month >= 0:
        raise ValueError("events_per_customer_month must be >= 0, got "
                         f"{events_per_customer_month!r}")
    n, chunk = int(customers), int(chunk_customers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    events_dir = out / "events"
    if events_dir.exists():
        shutil.rmtree(events_dir)
    events_dir.mkdir()

    world = _World(n, int(months), float(events_per_customer_month), end_date)
    schemas = _schemas()
    writers = {name: pq.ParquetWriter(out / f"{name}.parquet", schemas[name])
               for name in TABLES if name != "events"}
    counts = dict.fromkeys(TABLES, 0)
    sessions_before = 0
    try:
        for index, lo in enumerate(range(0, n, chunk)):
            rng = np.random.default_rng([seed, index])
            tables, sessions = world.block(rng, lo, min(lo + chunk, n), sessions_before)
            sessions_before += sessions
            for name, table in tables.items():
                table = table.cast(schemas[name])
                counts[name] += table.num_rows
                if name == "events":
                    pq.write_table(table, events_dir / f"part-{index:05d}.parquet")
                else:
                    writers[name].write_table(table)
            if progress:
                progress(f"customers {min(lo + chunk, n):,}/{n:,}: events {counts['events']:,}")
    finally:
        for writer in writers.values():
            writer.close()
    return counts


class _World:
    """Everything shared by the blocks: sizes, dates, the signup distribution."""

    def __init__(self, n: int, months: int, epcm: float, end_date: dt.date):
        self.n = n
        self.epcm = epcm
        self.E = (end_date - dt.date(1970, 1, 1)).days  # last day with data
        last_month = np.datetime64(end_date, "M")
        first_day = (last_month - (months - 1)).astype("datetime64[D]").astype(np.int64)
        days = np.arange(first_day, self.E + 1)
        month_of_day = (days.astype("datetime64[D]").astype("datetime64[M]")
                        - (last_month - (months - 1))).astype(np.int64)
        cdf = np.cumsum(1.04 ** month_of_day)  # signups grow 4 % a month
        self.signup_days, self.signup_cdf = days, cdf / cdf[-1]
        self.ids = _Ids(max(7, len(str(n))))

    # -- customers ---------------------------------------------------------------------------
    def block(self, rng: np.random.Generator, lo: int, hi: int, sessions_before: int):
        import pyarrow as pa

        gid = np.arange(lo, hi, dtype=np.int64)
        m = len(gid)
        # stratified quantiles: ids follow signup order without a global sort
        q = (gid + rng.random(m)) / self.n
        signup = self.signup_days[np.minimum(np.searchsorted(self.signup_cdf, q, side="right"),
                                             len(self.signup_days) - 1)]
        seg = _choice(rng, SEGMENT_P, n=m)
        plan0 = _choice(rng, PLAN_P, rows=seg)
        country = _choice(rng, COUNTRY_P, n=m)
        channel = _choice(rng, CHANNEL_P, rows=seg)
        health = np.clip(rng.lognormal(0.0, 0.5, m), 0.25, 3.0)
        seat_table = np.array([[s[int(x * len(s))] for x in (0.0, 0.25, 0.5, 0.75)]
                               for s in SEATS])
        seats = seat_table[seg, (rng.random(m) * 4).astype(np.int64)]
        users_base = np.array([b for b, _ in USERS_BASE])
        users_mean = np.array([mu for _, mu in USERS_BASE])
        n_users = users_base[seg] + rng.poisson(users_mean[seg])
        cid = self.ids("C", gid + 1)
        c = _Customers(gid, signup, seg, plan0, country, channel, health, seats, n_users, cid)

        subs, spans = self._subscriptions(rng, c)
        events, sessions = self._events(rng, c, spans, sessions_before)
        tickets, surveys = self._voice(rng, c, spans)
        tables = {
            "customers": pa.table({
                "customer_id": cid,
                "signup_date": pa.array(signup.astype("datetime64[D]")),
                "plan": _strings(PLANS, plan0),
                "segment": _strings(SEGMENTS, seg),
                "country": _strings(COUNTRIES, country),
                "channel": _strings(CHANNELS, channel),
            }),
            "subscriptions": subs,
            "events": events,
            "survey_responses": surveys,
            "support_tickets": tickets,
            "referrals": self._referrals(rng, c),
        }
        return tables, sessions

    # -- subscriptions -----------------------------------------------------------------------
    def _subscriptions(self, rng, c: _Customers):
        import pyarrow as pa
        import pyarrow.compute as pc

        E, m = self.E, len(c.gid)
        idx = np.arange(m)
        rows = _Rows()
        spans = _Rows()
        # free trial (MRR 0, is_trial); a trial still running at end_date has no end
        trial = rng.random(m) < np.array(TRIAL_P)[c.seg]
        trial_end = c.signup + TRIAL_DAYS
        converts = rng.random(m) < np.clip(np.array(TRIAL_CONVERT)[c.seg] * c.health ** 0.5,
                                           0.05, 0.95)
        t = idx[trial]
        rows.add(cust=t, start=c.signup[t], end=trial_end[t], mrr=np.zeros(len(t)),
                 trial=np.ones(len(t), bool), year=np.zeros(len(t), bool),
                 reason=np.full(len(t), -1))
        spans.add(cust=t, start=c.signup[t], end=np.minimum(trial_end[t], E + 1),
                  paid=np.zeros(len(t), bool), churn=~converts[t], reason=np.full(len(t), -1))
        # first paying life
        start = np.where(trial, trial_end, c.signup)
        pays = (~trial | converts) & (start <= E)
        p = idx[pays]
        annual = rng.random(len(p)) < np.array(ANNUAL_P)[c.seg[p]]
        end, reason, plan_end = self._life(rng, c, rows, spans, p, start[p], c.plan0[p],
                                           annual, comeback=False)
        # reactivation: some churned customers come back once, after a gap
        churned = end <= E
        back = churned & (rng.random(len(p)) < np.array(REACTIVATE_P)[np.maximum(reason, 0)])
        start2 = end + 32 + (rng.random(len(p)) * 240).astype(np.int64)
        back &= start2 <= E
        b = p[back]
        move = rng.random(len(b))
        plan2 = np.clip(plan_end[back] - (move < 0.25) + ((move >= 0.25) & (move < 0.35)), 0, 3)
        annual2 = rng.random(len(b)) < np.array(ANNUAL_P)[c.seg[b]] * 0.5
        self._life(rng, c, rows, spans, b, start2[back], plan2, annual2, comeback=True)

        r = rows.arrays()
        s_end = r["end"]
        running = s_end > E  # still running at end_date: end_date NULL
        order = np.lexsort((np.arange(len(r["cust"])), r["start"], r["cust"]))
        r = {k: v[order] for k, v in r.items()}
        running = running[order]
        rank = group_positions(np.bincount(r["cust"], minlength=m)) + 1
        cust_ids = c.cid.take(pa.array(r["cust"]))
        sub_ids = pc.binary_join_element_wise(cust_ids, self.ids("S", rank, 2), "-")
        subs = pa.table({
            "subscription_id": sub_ids,
            "customer_id": cust_ids,
            "start_date": pa.array(r["start"].astype("datetime64[D]")),
            "end_date": pa.array(r["end"].astype("datetime64[D]"), mask=running),
            "mrr": r["mrr"],
            "is_trial": r["trial"],
            "billing_interval": _strings(("month", "year"), r["year"].astype(np.int64)),
            "cancel_reason": _strings(CANCEL_REASONS, np.maximum(r["reason"], 0),
                                      mask=(r["reason"] < 0) | running),
        })
        return subs, spans.arrays()

    def _life(self, rng, c: _Customers, rows: _Rows, spans: _Rows, cust, start, plan, annual,
              comeback: bool):
        """One paying life per row of ``cust``: plan segments, an add-on, the churn (if any).

        Returns the life's end (exclusive; after ``E`` = still running), its churn reason
        (-1 when running) and the plan it ended on."""
        E, n = self.E, len(cust)
        seg, health = c.seg[cust], c.health[cust]
        hazard = (np.array(CHURN_BASE)[seg] * np.array(PLAN_CHURN)[plan] * health ** -0.8
                  * (1.3 if comeback else 1.0))
        hazard = np.minimum(hazard, 0.5)
        monthly_months = rng.geometric(hazard)
        annual_terms = rng.geometric(np.minimum(0.9, 12.0 * hazard * 0.55))
        paid_months = np.where(annual, 12 * annual_terms, monthly_months)
        end = _add_months(start, paid_months)
        live_days = np.minimum(end, E + 1) - start
        # plan changes on arbitrary days: up, down, or a monthly → annual switch
        fit = np.clip(health, 0.5, 2.0)
        p_up, p_down, p_switch = 0.022 * fit, 0.009 / fit, np.where(annual, 0.0, 0.008)
        rate = p_up + p_down + p_switch
        k = np.minimum(rng.poisson(rate * live_days / _MONTH_DAYS), _MAX_PLAN_CHANGES)
        life = np.repeat(np.arange(n), k + 1)
        pos = group_positions(k + 1)
        frac = np.where(pos == 0, 0.0, rng.random(len(life)))
        frac = frac[np.lexsort((frac, life))]
        seg_start = start[life] + (frac * live_days[life]).astype(np.int64)
        last = pos == k[life]
        seg_end = np.where(last, end[life], np.roll(seg_start, -1))
        u = rng.random(len(life)) * rate[life]
        step = np.where(pos == 0, 0, np.where(u < p_up[life], 1,
                                              np.where(u < (p_up + p_down)[life], -1, 0)))
        switch = (pos > 0) & (u >= (p_up + p_down)[life])
        firsts = np.cumsum(k + 1) - (k + 1)
        cum_step = np.cumsum(step)
        cum_step -= np.repeat(cum_step[firsts], k + 1)
        cum_switch = np.cumsum(switch)
        cum_switch -= np.repeat(cum_switch[firsts], k + 1)
        seg_plan = np.clip(plan[life] + cum_step, 0, 3)
        seg_year = annual[life] | (cum_switch > 0)
        factor = np.where(seg_year, ANNUAL_MONTHS_CHARGED / 12.0, 1.0)
        mrr = np.round(np.array(PLAN_PRICE)[seg_plan] * c.seats[cust][life] * factor, 2)
        churned = end <= E
        reason = np.where(churned, _choice(rng, REASON_P, rows=seg), -1)
        keep = (seg_end > seg_start) & (seg_start <= E)
        rows.add(cust=cust[life][keep], start=seg_start[keep], end=seg_end[keep], mrr=mrr[keep],
                 trial=np.zeros(int(keep.sum()), bool), year=seg_year[keep],
                 reason=np.where(last, reason[life], -1)[keep])
        spans.add(cust=cust, start=start, end=np.minimum(end, E + 1),
                  paid=np.ones(n, bool), churn=churned, reason=reason)
        if not comeback:  # an add-on beside the main plan: cancelling it is a contraction
            takes = (plan >= 1) & (rng.random(n) < _ADDON_P * np.minimum(1.0, health / 1.5))
            a_start = start + 1 + (rng.random(n) * 0.8 * live_days).astype(np.int64)
            early = rng.random(n) < 0.4
            a_end = np.where(early, a_start + 1 + (rng.random(n) * (end - a_start)).astype(
                np.int64), end)
            a_end = np.minimum(a_end, end)
            a_reason = np.where(early & (a_end < end), _choice(rng, ADDON_REASON_P, n=n), reason)
            a = takes & (a_start <= E) & (a_end > a_start)
            rows.add(cust=cust[a], start=a_start[a], end=a_end[a],
                     mrr=np.array(ADDON_PRICE)[plan[a]], trial=np.zeros(int(a.sum()), bool),
                     year=np.zeros(int(a.sum()), bool), reason=np.where(a_end[a] <= E,
                                                                        a_reason[a], -1))
        return end, reason, seg_plan[last]

    # -- events ------------------------------------------------------------------------------
    def _events(self, rng, c: _Customers, spans: dict, sessions_before: int):
        import pyarrow as pa

        s_cust, s_start, s_end = spans["cust"], spans["start"], spans["end"]
        days = s_end - s_start
        vigour = np.minimum(c.health, 2.0) ** 0.8
        vigour = vigour / 0.96  # mean of min(health, 2) ** 0.8 for lognormal(0, 0.5) health
        per_session = 1.0 + EVENTS_PER_SESSION
        boost = np.where(spans["paid"], 1.0, _TRIAL_ACTIVITY)
        lam = (self.epcm / per_session / _MONTH_DAYS / _WEEK_ACTIVITY * vigour[s_cust] * boost
               * days)
        n_sess = rng.poisson(lam)
        sp = np.repeat(np.arange(len(s_cust)), n_sess)
        day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        to_end = s_end[sp] - day  # >= 1
        decline = np.where(spans["churn"][sp] & (to_end <= DECLINE_DAYS),
                           0.15 + 0.85 * (to_end - 1) / DECLINE_DAYS, 1.0)
        weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        keep = rng.random(len(sp)) < np.where(weekend, _WEEKEND_KEEP, 1.0) * decline
        sp, day, decline = sp[keep], day[keep], decline[keep]
        ns = len(sp)
        cust = s_cust[sp]
        offset = np.array(COUNTRY_UTC_OFFSET)[c.country[cust]]
        local = np.clip(rng.normal(13.0, 3.2, ns), 5.0, 23.5) * 3600.0
        s_at = _utc_us(day, local, offset)
        user = (c.n_users[cust] * rng.random(ns) ** 2).astype(np.int64)
        n_ev = 1 + rng.poisson(EVENTS_PER_SESSION * np.sqrt(vigour[cust]))
        e_sess = np.repeat(np.arange(ns), n_ev)
        ne = len(e_sess)
        pos = group_positions(n_ev)
        e_cust = cust[e_sess]
        # basic features for everybody, advanced ones for healthy customers not about to churn
        breadth = np.clip(0.22 * c.health[e_cust] * decline[e_sess] ** 2, 0.03, 0.6)
        u = rng.random(ne)
        basic = np.array(BASIC_EVENTS)[np.searchsorted(np.cumsum(BASIC_P)[:-1], u, "right")]
        adv = np.array(ADVANCED_EVENTS)[np.searchsorted(np.cumsum(ADVANCED_P)[:-1], u, "right")]
        name = np.where(pos == 0, 0, np.where(rng.random(ne) < breadth, adv, basic))
        duration = np.where(name == 0, rng.uniform(3.0, 20.0, ne),
                            np.where(name == 6, rng.uniform(0.05, 2.0, ne),
                                     rng.lognormal(np.log(40.0), 0.9, ne)))
        duration = np.round(duration, 3)
        step = duration + rng.exponential(20.0, ne)  # think time before the next event
        before = np.cumsum(step) - step
        first = np.cumsum(n_ev) - n_ev
        e_at = s_at[e_sess] + np.round((before - np.repeat(before[first], n_ev)) * 1e3).astype(
            np.int64) * 1000
        # a session starts inside its span (in UTC); events past the span's end are cut
        e_sp = sp[e_sess]
        keep = (s_at[e_sess] >= s_start[e_sp] * _DAY_US) & (e_at < s_end[e_sp] * _DAY_US)
        e_sess, e_cust, e_at, name, duration = (e_sess[keep], e_cust[keep], e_at[keep],
                                                name[keep], duration[keep])
        order = np.lexsort((e_at, e_cust))
        e_sess, e_cust, e_at, name, duration = (e_sess[order], e_cust[order], e_at[order],
                                                name[order], duration[order])
        import pyarrow.compute as pc

        cust_ids = c.cid.take(pa.array(e_cust))
        table = pa.table({
            "customer_id": cust_ids,
            "user_id": pc.binary_join_element_wise(cust_ids, self.ids("U", user[e_sess] + 1, 3),
                                                   "-"),
            "event_time": pa.array(e_at, pa.timestamp("us")),
            "event_name": _strings(EVENT_NAMES, name),
            "session_id": self.ids("S", sessions_before + e_sess + 1, 10),
            "duration_seconds": duration,
        })
        return table, ns

    # -- voice of the customer ---------------------------------------------------------------
    def _voice(self, rng, c: _Customers, spans: dict):
        """Support tickets over active spans (more before a poor-support churn); NPS from paying
        customers and CSAT after resolved tickets, with comments and sentiment labels."""
        import pyarrow as pa

        E = self.E
        s_cust, s_start, s_end = spans["cust"], spans["start"], spans["end"]
        days = s_end - s_start
        seg = c.seg[s_cust]
        rate = np.array(TICKET_RATE)[seg] / 30.0 * c.health[s_cust] ** -0.5
        rate = rate * np.where(spans["reason"] == POOR_SUPPORT, 1.5, 1.0)
        n_t = rng.poisson(rate * days)
        sp = np.repeat(np.arange(len(s_cust)), n_t)
        t_cust = s_cust[sp]
        t_day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        offset = np.array(COUNTRY_UTC_OFFSET)[c.country[t_cust]]
        t_at = _utc_us(t_day, rng.normal(13 * 3600, 3 * 3600, len(sp)), offset)
        res_h = rng.lognormal(np.log(np.array(RESOLUTION_HOURS)[c.seg[t_cust]]), 1.0)
        t_res = t_at + np.round(res_h * 3.6e6).astype(np.int64) * 1000
        end_us = (E + 1) * _DAY_US
        keep = (t_at >= s_start[sp] * _DAY_US) & (t_at < s_end[sp] * _DAY_US)
        t_cust, t_at, t_res, res_h = t_cust[keep], t_at[keep], t_res[keep], res_h[keep]
        unresolved = (rng.random(len(t_cust)) < 0.02) | (t_res >= end_us)
        tickets = pa.table({
            "customer_id": c.cid.take(pa.array(t_cust)),
            "created_at": pa.array(t_at, pa.timestamp("us")),
            "resolved_at": pa.array(t_res, pa.timestamp("us"), mask=unresolved),
        })

        paid = spans["paid"]
        n_nps = rng.poisson(np.where(paid, NPS_DAILY_P, 0.0) * days)
        sp = np.repeat(np.arange(len(s_cust)), n_nps)
        nps_cust = s_cust[sp]
        nps_day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        fading = spans["churn"][sp] & (s_end[sp] - nps_day <= DECLINE_DAYS)
        nps_at = _utc_us(nps_day, rng.normal(14 * 3600, 3 * 3600, len(sp)),
                         np.array(COUNTRY_UTC_OFFSET)[c.country[nps_cust]])
        nps_score = np.clip(np.round(rng.normal(7.4 + 2.2 * np.log(c.health[nps_cust])
                                                - 2.5 * fading, 1.7)), 0, 10).astype(np.int64)
        ok = (nps_at >= s_start[sp] * _DAY_US) & (nps_at < s_end[sp] * _DAY_US)
        nps_cust, nps_at, nps_score = nps_cust[ok], nps_at[ok], nps_score[ok]
        nps_band = np.where(nps_score >= 9, 0, np.where(nps_score >= 7, 1, 2))
        pick = (~unresolved) & (rng.random(len(t_cust)) < CSAT_P)
        cs_cust = t_cust[pick]
        cs_at = t_res[pick] + np.round(rng.exponential(6.0, len(cs_cust)) * 3.6e6).astype(
            np.int64) * 1000
        cs_score = np.clip(np.round(rng.normal(4.5 - 0.45 * np.log1p(res_h[pick] / 24.0), 0.8)),
                           1, 5).astype(np.int64)
        ok = cs_at < end_us
        cs_cust, cs_at, cs_score = cs_cust[ok], cs_at[ok], cs_score[ok]
        cs_band = np.where(cs_score >= 4, 0, np.where(cs_score == 3, 1, 2))
        v_cust = np.concatenate([nps_cust, cs_cust])
        v_at = np.concatenate([nps_at, cs_at])
        v_kind = np.concatenate([np.zeros(len(nps_cust), np.int64),
                                 np.ones(len(cs_cust), np.int64)])
        v_score = np.concatenate([nps_score, cs_score])
        v_band = np.concatenate([nps_band, cs_band])
        nv = len(v_cust)
        has_comment = rng.random(nv) < COMMENT_P
        comment = np.full(nv, None, dtype=object)
        draw = rng.random(nv)
        for b, label in enumerate(SENTIMENTS):
            pool = np.array(COMMENTS[label], dtype=object)
            sel = has_comment & (v_band == b)
            comment[sel] = pool[(draw[sel] * len(pool)).astype(np.int64)]
        unlabelled = rng.random(nv) < 0.08  # comments nobody has classified yet
        surveys = pa.table({
            "customer_id": c.cid.take(pa.array(v_cust)),
            "responded_at": pa.array(v_at, pa.timestamp("us")),
            "survey": _strings(("nps", "csat"), v_kind),
            "score": v_score.astype(np.int32),
            "comment": pa.array(comment, pa.string()),
            "sentiment": _strings(SENTIMENTS, v_band, mask=~has_comment | unlabelled),
        })
        return tickets, surveys

    def _referrals(self, rng, c: _Customers):
        """Referred customers name an earlier customer (ids follow signup order); invitations
        that never converted come from this block's customers."""
        import pyarrow as pa

        referred = (c.channel == CHANNELS.index("referral")) & (c.gid > 0)
        r_to = c.gid[referred]
        r_from = (rng.random(len(r_to)) * r_to).astype(np.int64)
        r_day = c.signup[referred]
        n_lost = int(len(r_to) * 0.6)
        lost = (rng.random(n_lost) * len(c.gid)).astype(np.int64)
        lost_day = c.signup[lost] + (rng.random(n_lost) * (self.E + 1 - c.signup[lost])).astype(
            np.int64)
        day = np.concatenate([r_day, lost_day])
        at = _utc_us(day, rng.uniform(8 * 3600, 20 * 3600, len(day)), np.zeros(len(day)))
        to = np.concatenate([r_to, np.full(n_lost, -1)])
        return pa.table({
            "referrer_customer_id": self.ids("C", np.concatenate([r_from, c.gid[lost]]) + 1),
            "referred_at": pa.array(at, pa.timestamp("us")),
            "referred_customer_id": pa.array(
                self.ids("C", np.maximum(to, 0) + 1).to_numpy(zero_copy_only=False),
                pa.string(), mask=to < 0),
        })


class _Customers:
    """One block's customer attributes (local index = position in the block)."""

    __slots__ = ("gid", "signup", "seg", "plan0", "country", "channel", "health", "seats",
                 "n_users", "cid")

    def __init__(self, gid, signup, seg, plan0, country, channel, health, seats, n_users, cid):
        self.gid, self.signup, self.seg, self.plan0 = gid, signup, seg, plan0
        self.country, self.channel, self.health, self.seats = country, channel, health, seats
        self.n_users, self.cid = n_users, cid


class _Rows:
    """Column lists appended per batch, concatenated once."""

    def __init__(self):
        self._parts: dict[str, list[np.ndarray]] = {}

    def add(self, **columns: np.ndarray) -> None:
        for k, v in columns.items():
            self._parts.setdefault(k, []).append(np.asarray(v))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self._parts.items()}

"""Synthetic SaaS data at benchmark scale, streamed to Parquet one block of customers at a time.

``generate_parquet(out_dir, customers=10_000, months=36)`` writes a directory source that
``saas-retention build --source out_dir`` reads as it is::

    customers.parquet  subscriptions.parquet  survey_responses.parquet  support_tickets.parquet
    referrals.parquet  events/part-00000.parquet  events/part-00001.parquet  …

The world (plans, prices, segments, hazards, trials, annual billing, add-ons, reactivations,
activity fading before a churn…) and the steps drawn per customer (traits, the events of a
session, tickets' resolution, NPS and CSAT scores, comments, the tables' schemas) are
:mod:`saas_retention.datagen.world`; here they are drawn with numpy for a whole block of
customers at once. The demo (:mod:`saas_retention.datagen.demo`) is a small size of this
generator, written into DuckDB tables instead of Parquet files.

- customer ids follow signup order (signups grow 4 % a month over ``months`` months ending at
  ``end_date``): customer ``i``'s signup is a stratified quantile of that distribution, so a
  block needs nothing from the blocks before it;
- a paying life lasts a geometric number of months (annual plans: of yearly terms) with the
  world's hazard by segment, plan and health; plan changes, monthly → annual switches and
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
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from saas_retention.datagen.world import (
    ADDON_PRICE,
    ADDON_REASON_P,
    ANNUAL_CHURN,
    ANNUAL_MONTHS_CHARGED,
    ANNUAL_P,
    CHANNELS,
    CHURN_BASE,
    COMEBACK_ANNUAL,
    COMEBACK_GAP_DAYS,
    COMEBACK_HAZARD,
    COMEBACK_PLAN,
    COUNTRY_UTC_OFFSET,
    DAY_US,
    DECLINE_DAYS,
    EVENTS_PER_SESSION,
    HEALTH_EFFECT,
    MAX_HAZARD,
    NPS_DAILY_P,
    PLAN_CHANGE_P,
    PLAN_CHURN,
    PLAN_PRICE,
    POOR_SUPPORT,
    REACTIVATE_P,
    REASON_P,
    SIGNUP_GROWTH,
    TRIAL_CONVERT,
    TRIAL_CONVERT_BOUNDS,
    TRIAL_DAYS,
    TRIAL_P,
    UNRESOLVED_P,
    WEEKEND_SESSIONS,
    Ids,
    Traits,
    add_months,
    choice,
    csat_answers,
    customers_table,
    daily_ticket_rate,
    events_table,
    fading,
    group_positions,
    nps_answers,
    referral_times,
    referrals_table,
    schemas,
    session_events,
    subscriptions_table,
    surveys_table,
    ticket_times,
    tickets_table,
    traits,
    vigour,
    weekday,
)

__all__ = ["generate_parquet", "TABLES"]

TABLES = ("customers", "subscriptions", "events", "survey_responses", "support_tickets",
          "referrals")

# the benchmark's ids: C0000042 (wider for more customers), session S0000000042
CUSTOMER_ID_WIDTH = 7
_MONTH_DAYS = 365.2425 / 12
_WEEK_ACTIVITY = (5 + 2 * WEEKEND_SESSIONS) / 7
_TRIAL_ACTIVITY = 1.2  # trials explore the product
_MAX_PLAN_CHANGES = 4  # per paying life
_ADDON_P = 0.35  # share of lives on a plan with an add-on that take one (healthy ones more)


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

    shapes = schemas()
    # the tables the world draws (not every contract table: exchange_rates is not drawn)
    writers = {name: pq.ParquetWriter(out / f"{name}.parquet", shapes[name])
               for name in TABLES if name in shapes and name != "events"}
    counts = dict.fromkeys((name for name in TABLES if name in shapes), 0)
    try:
        for index, tables in enumerate(blocks(n, int(months), float(events_per_customer_month),
                                              seed, end_date, chunk)):
            for name, table in tables.items():
                counts[name] += table.num_rows
                if name == "events":
                    pq.write_table(table, events_dir / f"part-{index:05d}.parquet")
                else:
                    writers[name].write_table(table)
            if progress:
                done = min((index + 1) * chunk, n)
                progress(f"customers {done:,}/{n:,}: events {counts['events']:,}")
    finally:
        for writer in writers.values():
            writer.close()
    return counts


def blocks(customers: int, months: int, events_per_customer_month: float, seed: int,
           end_date: dt.date, chunk_customers: int) -> Iterator[dict]:
    """The tables of each block of ``chunk_customers`` customers in turn, in the contract's
    schemas (pyarrow tables by name). Block ``i`` draws from its own stream ``[seed, i]``, so
    the same seed and chunk size give the same rows whoever writes them (Parquet here, DuckDB
    tables in :mod:`saas_retention.datagen.demo`)."""
    world = _World(customers, months, events_per_customer_month, end_date)
    shapes = schemas()
    sessions_before = 0
    for index, lo in enumerate(range(0, customers, chunk_customers)):
        rng = np.random.default_rng([seed, index])
        tables, sessions = world.block(rng, lo, min(lo + chunk_customers, customers),
                                       sessions_before)
        sessions_before += sessions
        yield {name: table.cast(shapes[name]) for name, table in tables.items()}


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
        cdf = np.cumsum(SIGNUP_GROWTH ** month_of_day)
        self.signup_days, self.signup_cdf = days, cdf / cdf[-1]
        self.ids = Ids(max(CUSTOMER_ID_WIDTH, len(str(n))))

    # -- customers ---------------------------------------------------------------------------
    def block(self, rng: np.random.Generator, lo: int, hi: int, sessions_before: int):
        gid = np.arange(lo, hi, dtype=np.int64)
        m = len(gid)
        # stratified quantiles: ids follow signup order without a global sort
        q = (gid + rng.random(m)) / self.n
        signup = self.signup_days[np.minimum(np.searchsorted(self.signup_cdf, q, side="right"),
                                             len(self.signup_days) - 1)]
        cid = self.ids("C", gid + 1)
        c = _Customers(gid, signup, traits(rng, m), cid)

        subs, spans = self._subscriptions(rng, c)
        events, sessions = self._events(rng, c, spans, sessions_before)
        tickets, surveys = self._voice(rng, c, spans)
        tables = {
            "customers": customers_table(cid, signup, c.traits),
            "subscriptions": subs,
            "events": events,
            "survey_responses": surveys,
            "support_tickets": tickets,
            "referrals": self._referrals(rng, c),
        }
        return tables, sessions

    # -- subscriptions -----------------------------------------------------------------------
    def _subscriptions(self, rng, c: _Customers):
        E, m = self.E, len(c.gid)
        idx = np.arange(m)
        rows = _Rows()
        spans = _Rows()
        # free trial (MRR 0, is_trial); a trial still running at end_date has no end
        trial = rng.random(m) < np.array(TRIAL_P)[c.seg]
        trial_end = c.signup + TRIAL_DAYS
        converts = rng.random(m) < np.clip(np.array(TRIAL_CONVERT)[c.seg] * c.health ** 0.5,
                                           *TRIAL_CONVERT_BOUNDS)
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
        start2 = end + COMEBACK_GAP_DAYS[0] + (rng.random(len(p))
                                               * COMEBACK_GAP_DAYS[1]).astype(np.int64)
        back &= start2 <= E
        b = p[back]
        move = rng.random(len(b))
        down, up = COMEBACK_PLAN
        plan2 = np.clip(plan_end[back] - (move < down) + ((move >= down) & (move < up)), 0, 3)
        annual2 = rng.random(len(b)) < np.array(ANNUAL_P)[c.seg[b]] * COMEBACK_ANNUAL
        self._life(rng, c, rows, spans, b, start2[back], plan2, annual2, comeback=True)

        r = rows.arrays()
        running = r["end"] > E  # still running at end_date: end_date NULL
        order = np.lexsort((np.arange(len(r["cust"])), r["start"], r["cust"]))
        r = {k: v[order] for k, v in r.items()}
        subs = subscriptions_table(c.cid, self.ids, r, running[order])
        return subs, spans.arrays()

    def _life(self, rng, c: _Customers, rows: _Rows, spans: _Rows, cust, start, plan, annual,
              comeback: bool):
        """One paying life per row of ``cust``: plan segments, an add-on, the churn (if any).

        Returns the life's end (exclusive; after ``E`` = still running), its churn reason
        (-1 when running) and the plan it ended on."""
        E, n = self.E, len(cust)
        seg, health = c.seg[cust], c.health[cust]
        hazard = (np.array(CHURN_BASE)[seg] * np.array(PLAN_CHURN)[plan] * health ** -0.8
                  * (COMEBACK_HAZARD if comeback else 1.0))
        hazard = np.minimum(hazard, MAX_HAZARD)
        monthly_months = rng.geometric(hazard)
        annual_terms = rng.geometric(np.minimum(ANNUAL_CHURN[1], 12.0 * hazard * ANNUAL_CHURN[0]))
        paid_months = np.where(annual, 12 * annual_terms, monthly_months)
        end = add_months(start, paid_months)
        live_days = np.minimum(end, E + 1) - start
        # plan changes on arbitrary days: up, down, or a monthly → annual switch
        fit = np.clip(health, *HEALTH_EFFECT)
        p_up, p_down = PLAN_CHANGE_P[0] * fit, PLAN_CHANGE_P[1] / fit
        p_switch = np.where(annual, 0.0, PLAN_CHANGE_P[2])
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
        reason = np.where(churned, choice(rng, REASON_P, rows=seg), -1)
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
            a_reason = np.where(early & (a_end < end), choice(rng, ADDON_REASON_P, n=n), reason)
            a = takes & (a_start <= E) & (a_end > a_start)
            rows.add(cust=cust[a], start=a_start[a], end=a_end[a],
                     mrr=np.array(ADDON_PRICE)[plan[a]], trial=np.zeros(int(a.sum()), bool),
                     year=np.zeros(int(a.sum()), bool), reason=np.where(a_end[a] <= E,
                                                                        a_reason[a], -1))
        return end, reason, seg_plan[last]

    # -- events ------------------------------------------------------------------------------
    def _events(self, rng, c: _Customers, spans: dict, sessions_before: int):
        s_cust, s_start, s_end = spans["cust"], spans["start"], spans["end"]
        days = s_end - s_start
        vigor = vigour(c.health) / 0.96  # 0.96: its mean for lognormal(0, 0.5) health
        per_session = 1.0 + EVENTS_PER_SESSION
        boost = np.where(spans["paid"], 1.0, _TRIAL_ACTIVITY)
        lam = (self.epcm / per_session / _MONTH_DAYS / _WEEK_ACTIVITY * vigor[s_cust] * boost
               * days)
        n_sess = rng.poisson(lam)
        sp = np.repeat(np.arange(len(s_cust)), n_sess)
        day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        to_end = s_end[sp] - day  # >= 1
        decline = fading(spans["churn"][sp], to_end)
        weekend = weekday(day) >= 5
        keep = rng.random(len(sp)) < np.where(weekend, WEEKEND_SESSIONS, 1.0) * decline
        sp, day, decline = sp[keep], day[keep], decline[keep]
        e = session_events(rng, day, s_cust[sp], decline, s_start[sp] * DAY_US,
                           s_end[sp] * DAY_US, health=c.health, vigour=vigor,
                           n_users=c.n_users, offset=np.array(COUNTRY_UTC_OFFSET)[c.country])
        return events_table(c.cid, self.ids, e, sessions_before), len(sp)

    # -- voice of the customer ---------------------------------------------------------------
    def _voice(self, rng, c: _Customers, spans: dict):
        """Support tickets over active spans (more before a poor-support churn); NPS from paying
        customers and CSAT after resolved tickets, with comments and sentiment labels."""
        E = self.E
        s_cust, s_start, s_end = spans["cust"], spans["start"], spans["end"]
        days = s_end - s_start
        seg = c.seg[s_cust]
        rate = daily_ticket_rate(seg, c.health[s_cust])
        rate = rate * np.where(spans["reason"] == POOR_SUPPORT, 1.5, 1.0)
        n_t = rng.poisson(rate * days)
        sp = np.repeat(np.arange(len(s_cust)), n_t)
        t_cust = s_cust[sp]
        t_day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        offset = np.array(COUNTRY_UTC_OFFSET)[c.country[t_cust]]
        t_at, res_h, t_res = ticket_times(rng, t_day, offset, c.seg[t_cust])
        end_us = (E + 1) * DAY_US
        keep = (t_at >= s_start[sp] * DAY_US) & (t_at < s_end[sp] * DAY_US)
        t_cust, t_at, t_res, res_h = t_cust[keep], t_at[keep], t_res[keep], res_h[keep]
        unresolved = (rng.random(len(t_cust)) < UNRESOLVED_P) | (t_res >= end_us)
        tickets = tickets_table(c.cid, t_cust, t_at, t_res, unresolved)

        paid = spans["paid"]
        n_nps = rng.poisson(np.where(paid, NPS_DAILY_P, 0.0) * days)
        sp = np.repeat(np.arange(len(s_cust)), n_nps)
        nps_cust = s_cust[sp]
        nps_day = s_start[sp] + (rng.random(len(sp)) * days[sp]).astype(np.int64)
        churning = spans["churn"][sp] & (s_end[sp] - nps_day <= DECLINE_DAYS)
        nps_at, nps_score = nps_answers(rng, nps_day,
                                        np.array(COUNTRY_UTC_OFFSET)[c.country[nps_cust]],
                                        c.health[nps_cust], 2.5 * churning)
        ok = (nps_at >= s_start[sp] * DAY_US) & (nps_at < s_end[sp] * DAY_US)
        nps_cust, nps_at, nps_score = nps_cust[ok], nps_at[ok], nps_score[ok]
        cs_cust, cs_at, cs_score = csat_answers(rng, t_cust, t_res, res_h, unresolved, end_us)
        surveys = surveys_table(
            rng, c.cid, np.concatenate([nps_cust, cs_cust]), np.concatenate([nps_at, cs_at]),
            np.concatenate([np.zeros(len(nps_cust), np.int64), np.ones(len(cs_cust), np.int64)]),
            np.concatenate([nps_score, cs_score]))
        return tickets, surveys

    def _referrals(self, rng, c: _Customers):
        """Referred customers name an earlier customer (ids follow signup order); invitations
        that never converted come from this block's customers."""
        referred = (c.channel == CHANNELS.index("referral")) & (c.gid > 0)
        r_to = c.gid[referred]
        r_from = (rng.random(len(r_to)) * r_to).astype(np.int64)
        r_day = c.signup[referred]
        n_lost = int(len(r_to) * 0.6)
        lost = (rng.random(n_lost) * len(c.gid)).astype(np.int64)
        lost_day = c.signup[lost] + (rng.random(n_lost) * (self.E + 1 - c.signup[lost])).astype(
            np.int64)
        day = np.concatenate([r_day, lost_day])
        at = referral_times(rng, day)
        return referrals_table(self.ids, np.concatenate([r_from, c.gid[lost]]), at,
                               np.concatenate([r_to, np.full(n_lost, -1)]))


class _Customers:
    """One block's customers (local index = position in the block): global number, signup
    day, traits, text id."""

    __slots__ = ("gid", "signup", "traits", "cid", "seg", "plan0", "country", "channel",
                 "health", "seats", "n_users")

    def __init__(self, gid, signup, traits: Traits, cid):
        self.gid, self.signup, self.traits, self.cid = gid, signup, traits, cid
        self.seg, self.plan0, self.country = traits.seg, traits.plan0, traits.country
        self.channel, self.health, self.seats = traits.channel, traits.health, traits.seats
        self.n_users = traits.n_users


class _Rows:
    """Column lists appended per batch, concatenated once."""

    def __init__(self):
        self._parts: dict[str, list[np.ndarray]] = {}

    def add(self, **columns: np.ndarray) -> None:
        for k, v in columns.items():
            self._parts.setdefault(k, []).append(np.asarray(v))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self._parts.items()}

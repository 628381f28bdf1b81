"""Seeded generator of realistic synthetic SaaS data in the input contract
(docs/definitions.md#input-contract).

``generate(path_or_con, customers=2000, months=36, seed=42)`` writes six tables into DuckDB:
``customers``, ``subscriptions``, ``events``, ``survey_responses``, ``referrals`` and
``support_tickets``. The same seed always gives identical tables.

What the data contains, so every metric has something to show:

- signups spread over the ``months`` calendar months ending at ``end_date`` (growing over time);
- a 14-day free trial (mrr 0, ``is_trial``) for most customers; some trials never convert;
- plans starter / growth / pro / enterprise with different prices, monthly and annual billing
  (annual mrr = annual price / 12, 12-month terms that renew — sometimes at a new price or
  plan — or not);
- upgrades, downgrades and monthly→annual switches as "end the old subscription and start the
  new one on the same day", on arbitrary days of the month;
- add-on subscriptions running in parallel with the main one (cancelling one = contraction);
- churn with a ``cancel_reason``, hazards that differ by segment, plan, tenure and a latent
  customer health; some churned customers come back after a gap (reactivation);
- product events (more for healthier customers, fading in the weeks before churn, fewer advanced
  features among customers about to churn), NPS / CSAT survey responses with comments and
  sentiment, referrals (some never converted) and support tickets (more before a
  ``poor_support`` churn).

``customers.plan`` is the plan chosen at signup (later plan changes live in ``subscriptions``).
Nothing is dated after ``end_date``: a subscription whose end would fall after it is still
running (``end_date`` NULL), and no event, response, ticket or referral happens after it.

The world (plans, prices, hazards, distributions…) is :mod:`saas_retention.datagen.world`, shared
with the benchmark generator :mod:`saas_retention.datagen.synthetic`; the demo draws from it with
one random stream: subscriptions come from a per-customer state machine (a small Python loop
over pre-drawn random numbers), activity from a draw per customer-day. Rows are built with
numpy and pyarrow, in the contract's schemas (``world.schemas``), and written with
``CREATE TABLE … AS SELECT``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from saas_retention.datagen.world import (
    ADDON_PRICE,
    ADDON_REASON_P,
    ANNUAL_CHURN,
    ANNUAL_MONTHS_CHARGED,
    ANNUAL_P,
    CANCEL_REASONS,
    CHANNELS,
    CHURN_BASE,
    COMEBACK_ANNUAL,
    COMEBACK_GAP_DAYS,
    COMEBACK_HAZARD,
    COMEBACK_PLAN,
    COUNTRY_UTC_OFFSET,
    DAY_US,
    EVENT_NAMES,
    HEALTH_EFFECT,
    MAX_HAZARD,
    NPS_DAILY_P,
    PLAN_CHANGE_P,
    PLAN_CHURN,
    PLAN_PRICE,
    PLANS,
    POOR_SUPPORT,
    REACTIVATE_P,
    REASON_P,
    SEGMENTS,
    SESSION_RATE,
    SIGNUP_GROWTH,
    TRIAL_CONVERT,
    TRIAL_CONVERT_BOUNDS,
    TRIAL_DAYS,
    TRIAL_P,
    UNRESOLVED_P,
    WEEKEND_SESSIONS,
    Ids,
    add_months,
    choice,
    csat_answers,
    customers_table,
    daily_ticket_rate,
    events_table,
    fading,
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

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

__all__ = ["generate", "TABLE_NAMES", "PLANS", "SEGMENTS", "EVENT_NAMES", "CANCEL_REASONS"]

TABLE_NAMES = (
    "customers",
    "subscriptions",
    "events",
    "survey_responses",
    "referrals",
    "support_tickets",
)
# the demo's ids: C00042 (wider for more customers), session S000000042
CUSTOMER_ID_WIDTH = 5
SESSION_ID_WIDTH = 9


# --------------------------------------------------------------------------------------------
# Subscriptions: a per-customer state machine
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=262_144)
def _month_later(day: int, k: int) -> int:
    """add_months for one day, as a Python int: the state machine asks it one day at a time,
    and mostly for days it asked before."""
    return int(add_months(day, k))


def _pick(u: float, probs: tuple[float, ...]) -> int:
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1


class _Uniforms:
    """Pre-drawn uniforms as Python floats: fast scalar draws for the state machine."""

    __slots__ = ("_rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(32_768).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x


class _Subscriptions:
    def __init__(self, end_day: int, u: _Uniforms) -> None:
        self.E = end_day
        self.u = u
        # subscription rows
        self.cust: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []  # -1 = NULL
        self.mrr: list[float] = []
        self.trial: list[bool] = []
        self.year: list[bool] = []
        self.reason: list[int] = []  # -1 = NULL
        # activity spans (continuous coverage by the main subscription) for events etc.
        self.sp_cust: list[int] = []
        self.sp_start: list[int] = []
        self.sp_end: list[int] = []  # exclusive, <= E + 1
        self.sp_paid: list[bool] = []
        self.sp_churn: list[bool] = []
        self.sp_reason: list[int] = []

    def _row(self, c, s, e, mrr, trial, year, reason) -> None:
        self.cust.append(c)
        self.start.append(s)
        self.end.append(e)
        self.mrr.append(mrr)
        self.trial.append(trial)
        self.year.append(year)
        self.reason.append(reason)

    def _span(self, c, s, e, paid, churn, reason) -> None:
        if e > s:
            self.sp_cust.append(c)
            self.sp_start.append(s)
            self.sp_end.append(e)
            self.sp_paid.append(paid)
            self.sp_churn.append(churn)
            self.sp_reason.append(reason)

    @staticmethod
    def _mrr(plan: int, year: bool, factor: float) -> float:
        price = PLAN_PRICE[plan] * factor
        if year:
            return round(price * ANNUAL_MONTHS_CHARGED / 12.0, 2)
        return round(price, 2)

    def customer(self, c: int, signup: int, seg: int, plan: int, health: float, seats: float):
        E, u = self.E, self.u
        if u() < TRIAL_P[seg]:
            te = signup + TRIAL_DAYS
            converts = u() < min(TRIAL_CONVERT_BOUNDS[1],
                                 max(TRIAL_CONVERT_BOUNDS[0], TRIAL_CONVERT[seg] * health**0.5))
            if te > E:  # trial still running at end_date
                self._row(c, signup, -1, 0.0, True, False, -1)
                self._span(c, signup, E + 1, False, False, -1)
                return
            self._row(c, signup, te, 0.0, True, False, -1)
            self._span(c, signup, te, False, not converts, -1)
            if not converts:
                return
            start = te
        else:
            start = signup

        year = u() < ANNUAL_P[seg]
        factor = seats
        tenure = 0
        comebacks = 0
        addon_start = -1
        addon_mrr = 0.0
        fit = min(HEALTH_EFFECT[1], max(HEALTH_EFFECT[0], health))
        p_up, p_down, p_switch = PLAN_CHANGE_P[0] * fit, PLAN_CHANGE_P[1] / fit, PLAN_CHANGE_P[2]
        while True:  # one paying life, until churn
            life_start = start
            cur_start = start
            cur_mrr = self._mrr(plan, year, factor)
            k = 0
            while True:  # one month of the current subscription
                p0 = _month_later(cur_start, k)
                p1 = _month_later(cur_start, k + 1)
                span = p1 - p0
                # add-on running in parallel with the main subscription
                if addon_start < 0:
                    if plan >= 1 and u() < 0.025 * min(2.0, health):
                        d = p0 + 1 + int(u() * (span - 1))
                        if d <= E:
                            addon_start, addon_mrr = d, ADDON_PRICE[plan]
                elif u() < 0.05:
                    d = p0 + 1 + int(u() * (span - 1))
                    if addon_start < d <= E:
                        r = _pick(u(), ADDON_REASON_P)
                        self._row(c, addon_start, d, addon_mrr, False, False, r)
                        addon_start = -1
                # plan change: end the old subscription and start a new one the same day
                x = u()
                change = 0
                if x < p_up:
                    change = 1 if plan < 3 else 0
                elif x < p_up + p_down:
                    change = 2 if (plan > 0 and not year) else 0
                elif x < p_up + p_down + p_switch:
                    change = 3 if not year else 0
                if change:
                    d = p0 + 1 + int(u() * (span - 1))
                    if d <= E:
                        self._row(c, cur_start, d, cur_mrr, False, year, -1)
                        if change == 1:
                            plan = min(3, plan + (2 if u() < 0.1 else 1))
                        elif change == 2:
                            plan -= 1
                        else:
                            year = True
                        cur_start, k = d, 0
                        cur_mrr = self._mrr(plan, year, factor)
                        continue
                if p1 > E:  # still running at end_date
                    self._row(c, cur_start, -1, cur_mrr, False, year, -1)
                    if addon_start >= 0:
                        self._row(c, addon_start, -1, addon_mrr, False, False, -1)
                    self._span(c, life_start, E + 1, True, False, -1)
                    return
                tenure += 1
                hazard = CHURN_BASE[seg] * PLAN_CHURN[plan] * health**-0.8
                hazard *= (1.6 if tenure <= 3 else 1.0) * (COMEBACK_HAZARD if comebacks else 1.0)
                hazard = min(hazard, MAX_HAZARD)
                if year:
                    if k < 11:
                        k += 1
                        continue
                    # renew the annual term
                    if u() >= min(ANNUAL_CHURN[1], 12.0 * hazard * ANNUAL_CHURN[0]):
                        self._row(c, cur_start, p1, cur_mrr, False, True, -1)
                        if u() < 0.3:
                            factor = round(factor * 1.05, 4)  # price increase at renewal
                        y = u()
                        if y < 0.06 and plan < 3:
                            plan += 1
                        elif y < 0.14 and plan > 0:
                            plan -= 1
                        elif y < 0.22:
                            year = False
                        cur_start, k = p1, 0
                        cur_mrr = self._mrr(plan, year, factor)
                        continue
                elif u() >= hazard:
                    k += 1
                    continue
                # churn at the end of the paid period
                reason = _pick(u(), REASON_P[seg])
                self._row(c, cur_start, p1, cur_mrr, False, year, reason)
                if addon_start >= 0:
                    self._row(c, addon_start, p1, addon_mrr, False, False, reason)
                    addon_start = -1
                self._span(c, life_start, p1, True, True, reason)
                break
            if u() >= REACTIVATE_P[reason]:
                return
            start = p1 + COMEBACK_GAP_DAYS[0] + int(u() * COMEBACK_GAP_DAYS[1])
            if start > E:
                return
            comebacks += 1
            y = u()
            if y < COMEBACK_PLAN[0] and plan > 0:
                plan -= 1
            elif y < COMEBACK_PLAN[1] and plan < 3:
                plan += 1
            year = u() < ANNUAL_P[seg] * COMEBACK_ANNUAL


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------
def generate(
    path_or_con: Any,
    *,
    customers: int = 2000,
    months: int = 36,
    seed: int = 42,
    end_date: dt.date = dt.date(2025, 12, 31),
    events: bool = True,
) -> dict[str, int]:
    """Write the synthetic data set; return the row count of every table written.

    ``path_or_con`` is a DuckDB database path (created, or overwritten if it exists) or an open
    ``duckdb.DuckDBPyConnection`` (tables are replaced in its current schema). With
    ``events=False`` the ``events`` table is not written (and dropped if present).
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

    tables = _build(int(customers), int(months), int(seed), end_date, bool(events))

    if isinstance(path_or_con, duckdb.DuckDBPyConnection):
        return _write(path_or_con, tables, events)
    path = os.fspath(path_or_con)
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(path)
    try:
        return _write(con, tables, events)
    finally:
        con.close()


def _build(n: int, months: int, seed: int, end_date: dt.date, with_events: bool) -> dict:

    rng = np.random.default_rng(seed)
    E = (end_date - dt.date(1970, 1, 1)).days
    ids = Ids(max(CUSTOMER_ID_WIDTH, len(str(n))))
    cid = ids("C", np.arange(n) + 1)

    # ---- customers ----------------------------------------------------------------------
    first = (dt.date(end_date.year, end_date.month, 1) - dt.date(1970, 1, 1)).days
    month_start = add_months(first, np.arange(-(months - 1), 1))
    month_end = np.minimum(add_months(month_start, 1), E + 1)  # exclusive
    weight = SIGNUP_GROWTH ** np.arange(months) * (month_end - month_start) / 30.0
    m = choice(rng, weight / weight.sum(), n=n)
    signup = month_start[m] + (rng.random(n) * (month_end[m] - month_start[m])).astype(np.int64)
    signup = np.sort(signup)  # customer ids follow signup order
    t = traits(rng, n)
    seg, plan0, country, channel, health = t.seg, t.plan0, t.country, t.channel, t.health

    # ---- referrals (decided first: a referred customer needs an earlier referrer) ---------
    referred = np.flatnonzero(channel == CHANNELS.index("referral"))
    n_before = np.searchsorted(signup, signup[referred] - 7, side="left")
    ok = n_before > 0
    channel[referred[~ok]] = CHANNELS.index("organic")
    referred, n_before = referred[ok], n_before[ok]
    # the healthiest of three random earlier customers refers
    cand = (rng.random((len(referred), 3)) * n_before[:, None]).astype(np.int64)
    referrer = cand[np.arange(len(referred)), np.argmax(health[cand], axis=1)]
    lead = rng.integers(0, 15, len(referred))
    ref_day = np.maximum(signup[referred] - lead, signup[referrer] + 1)
    ref_day = np.minimum(ref_day, signup[referred])
    ref_at = referral_times(rng, ref_day)
    # invitations that never turned into a customer
    n_lost = int(len(referred) * 0.6) + 1
    lost_by = (rng.random((n_lost, 2)) * n).astype(np.int64)
    lost_by = lost_by[np.arange(n_lost), np.argmax(health[lost_by], axis=1)]
    lost_day = signup[lost_by] + (rng.random(n_lost) * (E + 1 - signup[lost_by])).astype(np.int64)
    lost_at = referral_times(rng, lost_day)
    r_from = np.concatenate([referrer, lost_by])
    r_at = np.concatenate([ref_at, lost_at])
    r_to = np.concatenate([referred, np.full(n_lost, -1)])
    end_us = (E + 1) * DAY_US
    keep = r_at < end_us
    r_from, r_at, r_to = r_from[keep], r_at[keep], r_to[keep]
    order = np.lexsort((r_to, r_from, r_at))
    referrals = referrals_table(ids, r_from[order], r_at[order], r_to[order])

    # ---- subscriptions --------------------------------------------------------------------
    sim = _Subscriptions(E, _Uniforms(rng))
    for c, (s, g, p, h, st) in enumerate(
        zip(
            signup.tolist(),
            seg.tolist(),
            plan0.tolist(),
            health.tolist(),
            t.seats.tolist(),
            strict=True,
        )
    ):
        sim.customer(c, s, g, p, h, st)
    rows = {
        "cust": np.array(sim.cust, dtype=np.int64),
        "start": np.array(sim.start, dtype=np.int64),
        "end": np.array(sim.end, dtype=np.int64),  # -1: still running
        "mrr": np.array(sim.mrr, dtype=np.float64),
        "trial": np.array(sim.trial, dtype=bool),
        "year": np.array(sim.year, dtype=bool),
        "reason": np.array(sim.reason, dtype=np.int64),
    }
    order = np.lexsort((np.arange(len(rows["cust"])), rows["start"], rows["cust"]))
    rows = {k: v[order] for k, v in rows.items()}
    subscriptions = subscriptions_table(cid, ids, rows, rows["end"] < 0)
    customers_t = customers_table(cid, signup, t)

    # ---- activity days (one row per customer-day covered by a subscription) ---------------
    sp_cust = np.array(sim.sp_cust, dtype=np.int64)
    sp_start = np.array(sim.sp_start, dtype=np.int64)
    sp_end = np.array(sim.sp_end, dtype=np.int64)
    sp_paid = np.array(sim.sp_paid, dtype=bool)
    sp_churn = np.array(sim.sp_churn, dtype=bool)
    sp_reason = np.array(sim.sp_reason, dtype=np.int64)
    length = sp_end - sp_start
    d_span = np.repeat(np.arange(len(length)), length)
    day = sp_start[d_span] + np.arange(len(d_span)) - np.repeat(np.cumsum(length) - length, length)
    d_cust = sp_cust[d_span]
    to_end = sp_end[d_span] - day  # >= 1
    decline = fading(sp_churn[d_span], to_end)
    weekend = weekday(day) >= 5
    offset_h = np.array(COUNTRY_UTC_OFFSET)[country]
    lo_us = sp_start * DAY_US  # events must fall inside their span, in UTC
    hi_us = sp_end * DAY_US

    # ---- support tickets ------------------------------------------------------------------
    t_rate = daily_ticket_rate(seg[d_cust], health[d_cust])
    poor = (sp_reason[d_span] == POOR_SUPPORT) & (to_end <= 60)
    t_rate = t_rate * np.where(poor, 3.0, 1.0) * np.where(weekend, 0.3, 1.2)
    t_idx = np.flatnonzero(rng.random(len(day)) < t_rate)
    t_cust = d_cust[t_idx]
    t_at, res_h, t_res = ticket_times(rng, day[t_idx], offset_h[t_cust], seg[t_cust])
    unresolved = (rng.random(len(t_idx)) < UNRESOLVED_P) | (t_res >= end_us)
    keep = (t_at >= lo_us[d_span[t_idx]]) & (t_at < hi_us[d_span[t_idx]])
    t_cust, t_at, t_res, unresolved, res_h = (
        t_cust[keep],
        t_at[keep],
        t_res[keep],
        unresolved[keep],
        res_h[keep],
    )
    order = np.lexsort((t_res, t_at, t_cust))
    t_cust, t_at, t_res, unresolved, res_h = (
        t_cust[order],
        t_at[order],
        t_res[order],
        unresolved[order],
        res_h[order],
    )
    tickets = tickets_table(cid, t_cust, t_at, t_res, unresolved)

    # ---- survey responses: NPS from paying customers, CSAT after resolved tickets ---------
    nps_idx = np.flatnonzero(sp_paid[d_span] & (rng.random(len(day)) < NPS_DAILY_P))
    nps_cust = d_cust[nps_idx]
    nps_at, nps_score = nps_answers(rng, day[nps_idx], offset_h[nps_cust], health[nps_cust],
                                    3.5 * (1.0 - decline[nps_idx]))
    keep = (nps_at >= lo_us[d_span[nps_idx]]) & (nps_at < hi_us[d_span[nps_idx]])
    nps_cust, nps_at, nps_score = nps_cust[keep], nps_at[keep], nps_score[keep]
    cs_cust, cs_at, cs_score = csat_answers(rng, t_cust, t_res, res_h, unresolved, end_us)

    v_cust = np.concatenate([nps_cust, cs_cust])
    v_at = np.concatenate([nps_at, cs_at])
    v_kind = np.concatenate([np.zeros(len(nps_cust), np.int8), np.ones(len(cs_cust), np.int8)])
    v_score = np.concatenate([nps_score, cs_score])
    order = np.lexsort((v_score, v_kind, v_at, v_cust))
    surveys = surveys_table(rng, cid, v_cust[order], v_at[order], v_kind[order], v_score[order])

    out = {
        "customers": customers_t,
        "subscriptions": subscriptions,
        "survey_responses": surveys,
        "referrals": referrals,
        "support_tickets": tickets,
    }
    if with_events:
        # sessions: a Poisson number per customer-day, more for healthy customers, fewer on
        # weekends and before a churn
        vigor = vigour(health)
        lam = np.array(SESSION_RATE)[seg[d_cust]] * vigor[d_cust] * decline
        lam = lam * np.where(weekend, WEEKEND_SESSIONS, 1.0)
        s_day = np.repeat(np.arange(len(day)), rng.poisson(lam))
        e = session_events(rng, day[s_day], d_cust[s_day], decline[s_day],
                           lo_us[d_span[s_day]], hi_us[d_span[s_day]], health=health,
                           vigour=vigor, n_users=t.n_users, offset=offset_h,
                           advanced_draw_first=True)
        out["events"] = events_table(cid, ids, e, session_width=SESSION_ID_WIDTH)
    return {name: table.cast(schemas()[name]) for name, table in out.items()}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _write(con: duckdb.DuckDBPyConnection, tables: dict, with_events: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in TABLE_NAMES:
        if name not in tables:
            if name == "events" and not with_events:
                con.execute("DROP TABLE IF EXISTS events")
            continue
        src = f"__saas_retention_demo_{name}"
        con.register(src, tables[name])
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {src}")
        finally:
            con.unregister(src)
        counts[name] = tables[name].num_rows
    return counts

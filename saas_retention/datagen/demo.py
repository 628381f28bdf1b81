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

Rows are built with numpy (the per-customer subscription state machine is a small Python loop
over pre-drawn random numbers) and written through pyarrow with ``CREATE TABLE … AS SELECT``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import numpy as np

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

# --------------------------------------------------------------------------------------------
# Parameters of the synthetic world
# --------------------------------------------------------------------------------------------
PLANS = ("starter", "growth", "pro", "enterprise")
PLAN_PRICE = (29.0, 79.0, 199.0, 599.0)  # monthly list price
ANNUAL_MONTHS_CHARGED = 10  # annual price = 10 × the monthly list price ("two months free")
ADDON_PRICE = (0.0, 19.0, 49.0, 149.0)  # add-on price by the main plan (none on starter)
PLAN_CHURN = (1.35, 1.0, 0.8, 0.6)

SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_P = (0.62, 0.27, 0.11)
PLAN_P = (  # plan mix by segment
    (0.55, 0.33, 0.10, 0.02),
    (0.15, 0.45, 0.33, 0.07),
    (0.02, 0.13, 0.40, 0.45),
)
SEATS = ((1.0,), (1.0, 1.0, 1.5, 2.0), (1.0, 2.0, 3.0, 4.0))  # price multiplier by segment
CHURN_BASE = (0.045, 0.022, 0.010)  # monthly churn hazard by segment
TRIAL_P = (0.92, 0.80, 0.45)  # share of customers starting with a free trial
TRIAL_CONVERT = (0.55, 0.60, 0.70)
TRIAL_DAYS = 14
ANNUAL_P = (0.18, 0.35, 0.60)
USERS_BASE = ((1, 2.0), (3, 6.0), (10, 20.0))  # seats in use: base + Poisson(mean)

COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "IN", "BR", "JP")
COUNTRY_P = (0.38, 0.12, 0.10, 0.07, 0.07, 0.05, 0.05, 0.06, 0.05, 0.05)
COUNTRY_UTC_OFFSET = (-5.0, 0.0, 1.0, 1.0, -5.0, 10.0, 1.0, 5.5, -3.0, 9.0)  # hours

CHANNELS = ("organic", "paid_search", "referral", "partner", "outbound")
CHANNEL_P = (
    (0.40, 0.30, 0.18, 0.10, 0.02),
    (0.30, 0.20, 0.15, 0.20, 0.15),
    (0.15, 0.05, 0.10, 0.25, 0.45),
)

CANCEL_REASONS = (
    "price",
    "missing_feature",
    "switched_competitor",
    "no_longer_needed",
    "poor_support",
    "payment_failed",
    "business_closed",
)
POOR_SUPPORT = CANCEL_REASONS.index("poor_support")
REASON_P = (
    (0.28, 0.12, 0.10, 0.20, 0.08, 0.14, 0.08),
    (0.18, 0.22, 0.20, 0.14, 0.12, 0.08, 0.06),
    (0.12, 0.28, 0.28, 0.10, 0.14, 0.03, 0.05),
)
REACTIVATE_P = (0.25, 0.18, 0.08, 0.20, 0.12, 0.35, 0.0)  # by cancel reason
ADDON_REASON_P = (0.45, 0.15, 0.0, 0.40, 0.0, 0.0, 0.0)

EVENT_NAMES = (
    "login",
    "view_dashboard",
    "create_report",
    "export_csv",
    "share_dashboard",
    "invite_user",
    "api_call",
)
BASIC_EVENTS = (1, 2, 3)
BASIC_P = (0.50, 0.32, 0.18)
ADVANCED_EVENTS = (4, 5, 6)
ADVANCED_P = (0.45, 0.15, 0.40)
SESSION_RATE = (0.45, 0.75, 1.05)  # sessions per weekday per customer, by segment
EVENTS_PER_SESSION = 2.4  # mean number of events after the login
DECLINE_DAYS = 42  # activity fades over this many days before a churn

TICKET_RATE = (0.35, 0.6, 1.2)  # tickets per active month, by segment
RESOLUTION_HOURS = (20.0, 12.0, 6.0)  # median, by segment
NPS_DAILY_P = 1.0 / 150.0
CSAT_P = 0.4
COMMENT_P = 0.4

COMMENTS = {
    "positive": (
        "Love the dashboards, the whole team uses them.",
        "Great product, saves us hours every week.",
        "Support was quick and helpful.",
        "Reports are exactly what our board needs.",
        "Easy to set up and easy to share.",
    ),
    "neutral": (
        "Does the job, a few rough edges.",
        "Fine overall, the export could be faster.",
        "OK, but onboarding took a while.",
        "Useful, though we only use a few features.",
    ),
    "negative": (
        "Too expensive for what we use.",
        "Missing the integrations we need.",
        "Support took days to answer.",
        "The app is slow and the reports break.",
        "We are moving to another tool.",
    ),
}
SENTIMENTS = ("positive", "neutral", "negative")

_EPOCH = dt.date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _add_months(ordinal: int, k: int, _cache: dict[tuple[int, int], int] = {}) -> int:  # noqa: B006
    """Ordinal of the same day of month k months later (clamped to the month's last day)."""
    key = (ordinal, k)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    d = dt.date.fromordinal(ordinal)
    y, m0 = divmod(d.month - 1 + k, 12)
    y += d.year
    day = min(d.day, calendar.monthrange(y, m0 + 1)[1])
    out = dt.date(y, m0 + 1, day).toordinal()
    if len(_cache) > 200_000:
        _cache.clear()
    _cache[key] = out
    return out


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


def _pick(u: float, probs: tuple[float, ...]) -> int:
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1


def _choice(rng: np.random.Generator, probs: np.ndarray, n: int | None = None) -> np.ndarray:
    """Vectorised categorical draw; ``probs`` is (k,) or (n, k) with rows summing to 1."""
    cum = np.cumsum(np.asarray(probs, dtype=float), axis=-1)
    cum[..., -1] = 1.0
    if cum.ndim == 1:
        return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)
    u = rng.random(cum.shape[0])
    return (u[:, None] >= cum).sum(axis=1).astype(np.int64)


def _utc_us(day: np.ndarray, local_seconds: np.ndarray, offset_hours: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch (millisecond precision) for a local time on an ordinal day."""
    sec = (day.astype(np.int64) - _EPOCH) * 86_400 + local_seconds - offset_hours * 3600.0
    return np.round(sec * 1e3).astype(np.int64) * 1000


# --------------------------------------------------------------------------------------------
# Subscriptions: a per-customer state machine
# --------------------------------------------------------------------------------------------
class _Subscriptions:
    def __init__(self, end_ord: int, u: _Uniforms) -> None:
        self.E = end_ord
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
            converts = u() < min(0.95, max(0.05, TRIAL_CONVERT[seg] * health**0.5))
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
        p_up = 0.022 * min(2.0, max(0.5, health))
        p_down = 0.009 / min(2.0, max(0.5, health))
        p_switch = 0.008
        while True:  # one paying life, until churn
            life_start = start
            cur_start = start
            cur_mrr = self._mrr(plan, year, factor)
            k = 0
            while True:  # one month of the current subscription
                p0 = _add_months(cur_start, k)
                p1 = _add_months(cur_start, k + 1)
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
                hazard *= (1.6 if tenure <= 3 else 1.0) * (1.3 if comebacks else 1.0)
                hazard = min(hazard, 0.5)
                if year:
                    if k < 11:
                        k += 1
                        continue
                    if u() >= min(0.9, 12.0 * hazard * 0.55):  # renew the annual term
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
            start = p1 + 32 + int(u() * 240)
            if start > E:
                return
            comebacks += 1
            y = u()
            if y < 0.25 and plan > 0:
                plan -= 1
            elif y < 0.35 and plan < 3:
                plan += 1
            year = u() < ANNUAL_P[seg] * 0.5


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
        return _write(path_or_con, tables, int(customers), events)
    path = os.fspath(path_or_con)
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(path)
    try:
        return _write(con, tables, int(customers), events)
    finally:
        con.close()


def _build(n: int, months: int, seed: int, end_date: dt.date, with_events: bool) -> dict:
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    E = end_date.toordinal()

    # ---- customers ----------------------------------------------------------------------
    first = dt.date(end_date.year, end_date.month, 1)
    month_start = np.array([_add_months(first.toordinal(), -i) for i in range(months)][::-1])
    month_end = np.array([min(_add_months(s, 1), E + 1) for s in month_start])  # exclusive
    weight = 1.04 ** np.arange(months) * (month_end - month_start) / 30.0
    m = _choice(rng, weight / weight.sum(), n)
    signup = month_start[m] + (rng.random(n) * (month_end[m] - month_start[m])).astype(np.int64)
    signup = np.sort(signup)  # customer ids follow signup order
    seg = _choice(rng, np.array(SEGMENT_P), n)
    plan0 = _choice(rng, np.array(PLAN_P)[seg])
    country = _choice(rng, np.array(COUNTRY_P), n)
    channel = _choice(rng, np.array(CHANNEL_P)[seg])
    health = np.clip(rng.lognormal(0.0, 0.5, n), 0.25, 3.0)
    seat_idx = rng.random(n)
    seats = np.array([SEATS[s][int(x * len(SEATS[s]))] for s, x in zip(seg, seat_idx, strict=True)])
    n_users = np.array([USERS_BASE[s][0] for s in seg]) + rng.poisson(
        np.array([USERS_BASE[s][1] for s in seg])
    )

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
    ref_sec = rng.uniform(8 * 3600, 20 * 3600, len(referred))
    ref_at = _utc_us(ref_day, ref_sec, np.zeros(len(referred)))
    # invitations that never turned into a customer
    n_lost = int(len(referred) * 0.6) + 1
    lost_by = (rng.random((n_lost, 2)) * n).astype(np.int64)
    lost_by = lost_by[np.arange(n_lost), np.argmax(health[lost_by], axis=1)]
    lost_day = signup[lost_by] + (rng.random(n_lost) * (E + 1 - signup[lost_by])).astype(np.int64)
    lost_at = _utc_us(lost_day, rng.uniform(8 * 3600, 20 * 3600, n_lost), np.zeros(n_lost))
    r_from = np.concatenate([referrer, lost_by])
    r_at = np.concatenate([ref_at, lost_at])
    r_to = np.concatenate([referred, np.full(n_lost, -1)])
    end_us = (E + 1 - _EPOCH) * _DAY_US
    keep = r_at < end_us
    r_from, r_at, r_to = r_from[keep], r_at[keep], r_to[keep]
    order = np.lexsort((r_to, r_from, r_at))
    referrals = pa.table(
        {
            "referrer": r_from[order].astype(np.int32),
            "referred_at": pa.array(r_at[order], pa.timestamp("us")),
            "referred": pa.array(r_to[order].astype(np.int32), mask=r_to[order] < 0),
        }
    )

    # ---- subscriptions --------------------------------------------------------------------
    sim = _Subscriptions(E, _Uniforms(rng))
    for c, (s, g, p, h, st) in enumerate(
        zip(
            signup.tolist(),
            seg.tolist(),
            plan0.tolist(),
            health.tolist(),
            seats.tolist(),
            strict=True,
        )
    ):
        sim.customer(c, s, g, p, h, st)
    s_cust = np.array(sim.cust, dtype=np.int64)
    s_start = np.array(sim.start, dtype=np.int64)
    s_end = np.array(sim.end, dtype=np.int64)
    s_seq = np.arange(len(s_cust))
    order = np.lexsort((s_seq, s_start, s_cust))
    s_cust, s_start, s_end = s_cust[order], s_start[order], s_end[order]
    first_of_cust = np.searchsorted(s_cust, s_cust, side="left")
    s_rank = np.arange(len(s_cust)) - first_of_cust + 1
    s_reason = np.array(sim.reason, dtype=np.int64)[order]
    reason_names = pa.array(CANCEL_REASONS).take(pa.array(np.maximum(s_reason, 0)))
    subscriptions = pa.table(
        {
            "cust": s_cust.astype(np.int32),
            "rank": s_rank.astype(np.int32),
            "start_date": pa.array((s_start - _EPOCH).astype("datetime64[D]")),
            "end_date": pa.array((s_end - _EPOCH).astype("datetime64[D]"), mask=s_end < 0),
            "mrr": np.array(sim.mrr, dtype=np.float64)[order],
            "is_trial": np.array(sim.trial, dtype=bool)[order],
            "billing_interval": pa.array(["month", "year"]).take(
                pa.array(np.array(sim.year, dtype=np.int8)[order])
            ),
            "cancel_reason": pa.array(
                reason_names.to_numpy(zero_copy_only=False), pa.string(), mask=s_reason < 0
            ),
        }
    )

    customers_t = pa.table(
        {
            "cust": np.arange(n, dtype=np.int32),
            "signup_date": pa.array((signup - _EPOCH).astype("datetime64[D]")),
            "plan": pa.array(PLANS).take(pa.array(plan0)),
            "segment": pa.array(SEGMENTS).take(pa.array(seg)),
            "country": pa.array(COUNTRIES).take(pa.array(country)),
            "channel": pa.array(CHANNELS).take(pa.array(channel)),
        }
    )

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
    decline = np.where(
        sp_churn[d_span] & (to_end <= DECLINE_DAYS),
        0.15 + 0.85 * (to_end - 1) / DECLINE_DAYS,
        1.0,
    )
    weekday = (day - 1) % 7  # ordinal 1 (0001-01-01) is a Monday
    offset_h = np.array(COUNTRY_UTC_OFFSET)[country]
    lo_us = (sp_start - _EPOCH) * _DAY_US  # events must fall inside their span, in UTC
    hi_us = (sp_end - _EPOCH) * _DAY_US

    # ---- support tickets ------------------------------------------------------------------
    t_rate = np.array(TICKET_RATE)[seg[d_cust]] / 30.0 * health[d_cust] ** -0.5
    poor = (sp_reason[d_span] == POOR_SUPPORT) & (to_end <= 60)
    t_rate = t_rate * np.where(poor, 3.0, 1.0) * np.where(weekday >= 5, 0.3, 1.2)
    t_idx = np.flatnonzero(rng.random(len(day)) < t_rate)
    t_cust = d_cust[t_idx]
    t_at = _utc_us(day[t_idx], rng.normal(13 * 3600, 3 * 3600, len(t_idx)), offset_h[t_cust])
    res_h = rng.lognormal(np.log(np.array(RESOLUTION_HOURS)[seg[t_cust]]), 1.0)
    t_res = t_at + np.round(res_h * 3.6e6).astype(np.int64) * 1000
    unresolved = (rng.random(len(t_idx)) < 0.02) | (t_res >= end_us)
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
    tickets = pa.table(
        {
            "cust": t_cust.astype(np.int32),
            "created_at": pa.array(t_at, pa.timestamp("us")),
            "resolved_at": pa.array(t_res, pa.timestamp("us"), mask=unresolved),
        }
    )

    # ---- survey responses: NPS from paying customers, CSAT after resolved tickets ---------
    nps_idx = np.flatnonzero(sp_paid[d_span] & (rng.random(len(day)) < NPS_DAILY_P))
    nps_cust = d_cust[nps_idx]
    nps_at = _utc_us(
        day[nps_idx], rng.normal(14 * 3600, 3 * 3600, len(nps_idx)), offset_h[nps_cust]
    )
    nps_score = np.clip(
        np.round(
            rng.normal(
                7.4 + 2.2 * np.log(health[nps_cust]) - 3.5 * (1.0 - decline[nps_idx]),
                1.7,
            )
        ),
        0,
        10,
    ).astype(np.int64)
    keep = (nps_at >= lo_us[d_span[nps_idx]]) & (nps_at < hi_us[d_span[nps_idx]])
    nps_cust, nps_at, nps_score = nps_cust[keep], nps_at[keep], nps_score[keep]
    nps_band = np.where(nps_score >= 9, 0, np.where(nps_score >= 7, 1, 2))

    csat_pick = (~unresolved) & (rng.random(len(t_cust)) < CSAT_P)
    cs_cust = t_cust[csat_pick]
    cs_at = (
        t_res[csat_pick]
        + np.round(rng.exponential(6.0, len(cs_cust)) * 3.6e6).astype(np.int64) * 1000
    )
    cs_score = np.clip(
        np.round(rng.normal(4.5 - 0.45 * np.log1p(res_h[csat_pick] / 24.0), 0.8)), 1, 5
    ).astype(np.int64)
    keep = cs_at < end_us
    cs_cust, cs_at, cs_score = cs_cust[keep], cs_at[keep], cs_score[keep]
    cs_band = np.where(cs_score >= 4, 0, np.where(cs_score == 3, 1, 2))

    v_cust = np.concatenate([nps_cust, cs_cust])
    v_at = np.concatenate([nps_at, cs_at])
    v_kind = np.concatenate([np.zeros(len(nps_cust), np.int8), np.ones(len(cs_cust), np.int8)])
    v_score = np.concatenate([nps_score, cs_score])
    v_band = np.concatenate([nps_band, cs_band])
    order = np.lexsort((v_score, v_kind, v_at, v_cust))
    v_cust, v_at, v_kind, v_score, v_band = (
        v_cust[order],
        v_at[order],
        v_kind[order],
        v_score[order],
        v_band[order],
    )
    nv = len(v_cust)
    has_comment = rng.random(nv) < COMMENT_P
    pick = rng.random(nv)
    comment = np.empty(nv, dtype=object)
    for b, name in enumerate(SENTIMENTS):
        pool = np.array(COMMENTS[name], dtype=object)
        sel = has_comment & (v_band == b)
        comment[sel] = pool[(pick[sel] * len(pool)).astype(np.int64)]
    unlabelled = rng.random(nv) < 0.08  # comments nobody has classified yet
    surveys = pa.table(
        {
            "cust": v_cust.astype(np.int32),
            "responded_at": pa.array(v_at, pa.timestamp("us")),
            "survey": pa.array(["nps", "csat"]).take(pa.array(v_kind)),
            "score": v_score.astype(np.int32),
            "comment": pa.array(comment, pa.string()),
            "sentiment": pa.array(
                np.array(SENTIMENTS, dtype=object)[v_band],
                pa.string(),
                mask=~has_comment | unlabelled,
            ),
        }
    )

    out = {
        "customers": customers_t,
        "subscriptions": subscriptions,
        "survey_responses": surveys,
        "referrals": referrals,
        "support_tickets": tickets,
    }
    if with_events:
        out["events"] = _events(
            rng, day, d_span, d_cust, decline, weekday, seg, health, n_users, offset_h, lo_us, hi_us
        )
    return out


def _events(rng, day, d_span, d_cust, decline, weekday, seg, health, n_users, offset_h, lo, hi):
    import pyarrow as pa

    vigour = np.minimum(health, 2.0) ** 0.8
    lam = np.array(SESSION_RATE)[seg[d_cust]] * vigour[d_cust] * decline
    lam = lam * np.where(weekday >= 5, 0.25, 1.0)
    n_sess = rng.poisson(lam)
    s_day = np.repeat(np.arange(len(day)), n_sess)
    ns = len(s_day)
    s_cust = d_cust[s_day]
    local = np.clip(rng.normal(13.0, 3.2, ns), 5.0, 23.5) * 3600.0
    s_at = _utc_us(day[s_day], local, offset_h[s_cust])
    s_user = (n_users[s_cust] * rng.random(ns) ** 2).astype(np.int64)
    depth = EVENTS_PER_SESSION * np.sqrt(vigour[s_cust])
    n_ev = 1 + rng.poisson(depth)
    e_sess = np.repeat(np.arange(ns), n_ev)
    ne = len(e_sess)
    pos = np.arange(ne) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    e_cust = s_cust[e_sess]

    # which feature: basic ones for everybody, advanced ones for healthy, engaged customers
    breadth = np.clip(0.22 * health[e_cust] * decline[s_day[e_sess]] ** 2, 0.03, 0.6)
    advanced = rng.random(ne) < breadth
    u = rng.random(ne)
    basic_name = np.array(BASIC_EVENTS)[np.searchsorted(np.cumsum(BASIC_P)[:-1], u, "right")]
    adv_name = np.array(ADVANCED_EVENTS)[np.searchsorted(np.cumsum(ADVANCED_P)[:-1], u, "right")]
    name = np.where(pos == 0, 0, np.where(advanced, adv_name, basic_name)).astype(np.int8)

    duration = np.where(
        name == 0,
        rng.uniform(3.0, 20.0, ne),
        np.where(name == 6, rng.uniform(0.05, 2.0, ne), rng.lognormal(np.log(40.0), 0.9, ne)),
    )
    duration = np.round(duration, 3)
    step = duration + rng.exponential(20.0, ne)  # think time before the next event
    cum = np.cumsum(step)
    before = cum - step  # sum of the steps before this event, over all events
    start_of_session = np.repeat(before[np.cumsum(n_ev) - n_ev], n_ev)
    e_at = s_at[e_sess] + np.round((before - start_of_session) * 1e3).astype(np.int64) * 1000

    # a session must start inside its span (in UTC); events running past the span's end are cut
    sp = d_span[s_day[e_sess]]
    keep = (s_at[e_sess] >= lo[sp]) & (e_at < hi[sp])
    e_cust, e_at, e_sess, pos, name, duration = (
        e_cust[keep],
        e_at[keep],
        e_sess[keep],
        pos[keep],
        name[keep],
        duration[keep],
    )
    order = np.lexsort((pos, e_sess, e_at, e_cust))
    return pa.table(
        {
            "cust": e_cust[order].astype(np.int32),
            "uidx": s_user[e_sess[order]].astype(np.int32),
            "event_time": pa.array(e_at[order], pa.timestamp("us")),
            "event_name": pa.array(EVENT_NAMES).take(pa.array(name[order])),
            "sidx": e_sess[order].astype(np.int64),
            "duration_seconds": duration[order],
        }
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _write(
    con: duckdb.DuckDBPyConnection, tables: dict, n_customers: int, with_events: bool
) -> dict[str, int]:
    w = max(5, len(str(n_customers)))

    def cid(col: str) -> str:
        return f"'C' || lpad(CAST({col} + 1 AS VARCHAR), {w}, '0')"

    selects = {
        "customers": f"""
            SELECT {cid("cust")} AS customer_id, CAST(signup_date AS DATE) AS signup_date,
                   plan, segment, country, channel
            FROM {{src}}""",
        "subscriptions": f"""
            SELECT {cid("cust")} || '-S' || lpad(CAST(rank AS VARCHAR), 2, '0')
                       AS subscription_id,
                   {cid("cust")} AS customer_id,
                   CAST(start_date AS DATE) AS start_date, CAST(end_date AS DATE) AS end_date,
                   CAST(mrr AS DOUBLE) AS mrr, is_trial, billing_interval, cancel_reason
            FROM {{src}}""",
        "events": f"""
            SELECT {cid("cust")} AS customer_id,
                   {cid("cust")} || '-U' || lpad(CAST(uidx + 1 AS VARCHAR), 3, '0') AS user_id,
                   CAST(event_time AS TIMESTAMP) AS event_time, event_name,
                   'S' || lpad(CAST(sidx + 1 AS VARCHAR), 9, '0') AS session_id,
                   CAST(duration_seconds AS DOUBLE) AS duration_seconds
            FROM {{src}}""",
        "survey_responses": f"""
            SELECT {cid("cust")} AS customer_id, CAST(responded_at AS TIMESTAMP) AS responded_at,
                   survey, CAST(score AS INTEGER) AS score, comment, sentiment
            FROM {{src}}""",
        "referrals": f"""
            SELECT {cid("referrer")} AS referrer_customer_id,
                   CAST(referred_at AS TIMESTAMP) AS referred_at,
                   {cid("referred")} AS referred_customer_id
            FROM {{src}}""",
        "support_tickets": f"""
            SELECT {cid("cust")} AS customer_id, CAST(created_at AS TIMESTAMP) AS created_at,
                   CAST(resolved_at AS TIMESTAMP) AS resolved_at
            FROM {{src}}""",
    }
    counts: dict[str, int] = {}
    for name in TABLE_NAMES:
        if name not in tables:
            if name == "events" and not with_events:
                con.execute("DROP TABLE IF EXISTS events")
            continue
        src = f"__saas_retention_demo_{name}"
        con.register(src, tables[name])
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS {selects[name].format(src=src)}")
        finally:
            con.unregister(src)
        counts[name] = tables[name].num_rows
    return counts

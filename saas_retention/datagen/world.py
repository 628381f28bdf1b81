"""The synthetic SaaS world: its parameters and the drawing steps of its tables.

The plans, prices, segments, hazards, trials, countries, channels, events, surveys and tickets
below, and the steps that draw from them per customer: traits, activity fading before a churn,
the events of a session, a ticket's resolution, NPS and CSAT answers, survey comments, referral
times and the tables in the input contract (docs/definitions.md#input-contract). The generator
(:mod:`saas_retention.datagen.synthetic`) draws the signups, the subscription lives and the
days with activity for a block of customers at once and calls these steps; the demo
(:mod:`saas_retention.datagen.demo`) is a small size of it, written to DuckDB.

Days are integers counted from 1970-01-01; instants are microseconds since then, at
millisecond precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADDON_PRICE", "ADDON_REASON_P", "ADVANCED_EVENTS", "ADVANCED_P", "ANNUAL_MONTHS_CHARGED",
    "ANNUAL_P", "BASIC_EVENTS", "BASIC_P", "CANCEL_REASONS", "CHANNEL_P", "CHANNELS",
    "CHURN_BASE", "COMMENT_P", "COMMENTS", "COUNTRIES", "COUNTRY_P", "COUNTRY_UTC_OFFSET",
    "CSAT_P", "DAY_US", "DECLINE_DAYS", "EVENT_NAMES", "EVENTS_PER_SESSION", "NPS_DAILY_P",
    "PLAN_CHURN", "PLAN_P", "PLAN_PRICE", "PLANS", "POOR_SUPPORT", "REACTIVATE_P", "REASON_P",
    "RESOLUTION_HOURS", "SEATS", "SEGMENT_P", "SEGMENTS", "SENTIMENTS",
    "TICKET_RATE", "TRIAL_CONVERT", "TRIAL_DAYS", "TRIAL_P", "USERS_BASE", "SIGNUP_GROWTH",
    "HEALTH_EFFECT", "PLAN_CHANGE_P", "TRIAL_CONVERT_BOUNDS", "MAX_HAZARD", "COMEBACK_HAZARD",
    "ANNUAL_CHURN", "COMEBACK_GAP_DAYS", "COMEBACK_PLAN", "COMEBACK_ANNUAL", "WEEKEND_SESSIONS",
    "UNRESOLVED_P", "daily_ticket_rate", "fading", "referral_times", "vigour", "weekday",
    "Ids", "Traits", "add_months", "choice", "csat_answers", "customers_table", "events_table",
    "group_positions", "nps_answers", "referrals_table", "schemas", "session_events",
    "strings", "subscriptions_table", "surveys_table", "ticket_times", "tickets_table",
    "traits", "utc_us",
]

# --------------------------------------------------------------------------------------------
# Parameters
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

SIGNUP_GROWTH = 1.04  # signups grow 4 % a month
HEALTH_EFFECT = (0.5, 2.0)  # health, clipped to this, scales plan changes
# per paying month: upgrade (× health), downgrade (÷ health), monthly → annual switch
PLAN_CHANGE_P = (0.022, 0.009, 0.008)
TRIAL_CONVERT_BOUNDS = (0.05, 0.95)  # TRIAL_CONVERT × health ** 0.5, clipped
MAX_HAZARD = 0.5  # monthly churn hazard at most
COMEBACK_HAZARD = 1.3  # hazard multiplier after a reactivation
ANNUAL_CHURN = (0.55, 0.9)  # an annual term churns at renewal with 12 × hazard × 0.55, ≤ 0.9
COMEBACK_GAP_DAYS = (32, 240)  # a reactivation starts 32 + uniform × 240 days after the churn
COMEBACK_PLAN = (0.25, 0.35)  # uniform below the first: a plan down; below the second: up
COMEBACK_ANNUAL = 0.5  # ANNUAL_P × this after a reactivation
WEEKEND_SESSIONS = 0.25  # sessions on Saturdays and Sundays, relative to weekdays
UNRESOLVED_P = 0.02  # tickets never resolved

DAY_US = 86_400_000_000


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def add_months(days, k):
    """The same day of month ``k`` months later, clamped to the month's last day."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    dom = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(k, dtype=np.int64).astype("timedelta64[M]")
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(dom, length - 1)


def choice(rng: np.random.Generator, probs, rows: np.ndarray | None = None,
           n: int | None = None) -> np.ndarray:
    """Categorical draws: ``probs`` (k,) for ``n`` draws, or a table (m, k) indexed by ``rows``
    (one draw per row)."""
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


def utc_us(day: np.ndarray, local_seconds: np.ndarray, offset_hours: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch (millisecond precision) of a local time on a day."""
    sec = day.astype(np.int64) * 86_400 + local_seconds - offset_hours * 3600.0
    return np.round(sec * 1e3).astype(np.int64) * 1000


def weekday(day: np.ndarray) -> np.ndarray:
    """0 (Monday) … 6 (Sunday)."""
    return (day + 3) % 7  # 1970-01-01 was a Thursday


def fading(churns: np.ndarray, to_end: np.ndarray) -> np.ndarray:
    """Activity multiplier ``to_end`` days (≥ 1) before the end of a span: it falls from 1 to
    0.15 over the DECLINE_DAYS before a churn (``churns``)."""
    return np.where(churns & (to_end <= DECLINE_DAYS), 0.15 + 0.85 * (to_end - 1) / DECLINE_DAYS,
                    1.0)


def strings(labels, codes: np.ndarray, mask: np.ndarray | None = None):
    """Arrow strings ``labels[codes]`` (NULL where ``mask``)."""
    import pyarrow as pa

    return pa.array(np.asarray(labels, dtype=object)[codes], pa.string(), mask=mask)


class Ids:
    """Zero-padded text ids built by Arrow kernels (``C0000042``), never a Python loop."""

    def __init__(self, width: int):
        self.width = width

    def __call__(self, prefix: str, numbers: np.ndarray, width: int | None = None):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()),
                            width=width or self.width, padding="0")
        return pc.binary_join_element_wise(prefix, text, "")


def schemas() -> dict:
    """The Arrow schema of every generated table: the input contract's columns and types."""
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
# Customers
# --------------------------------------------------------------------------------------------
@dataclass
class Traits:
    """What a customer is, drawn at signup (arrays over the customers)."""

    seg: np.ndarray
    plan0: np.ndarray  # the plan chosen at signup
    country: np.ndarray
    channel: np.ndarray
    health: np.ndarray  # latent: 1 is average, higher churns less and uses more
    seats: np.ndarray  # price multiplier
    n_users: np.ndarray


def traits(rng: np.random.Generator, n: int) -> Traits:
    seg = choice(rng, SEGMENT_P, n=n)
    plan0 = choice(rng, PLAN_P, rows=seg)
    country = choice(rng, COUNTRY_P, n=n)
    channel = choice(rng, CHANNEL_P, rows=seg)
    health = np.clip(rng.lognormal(0.0, 0.5, n), 0.25, 3.0)
    # SEATS[s][int(x * len(SEATS[s]))] for a uniform x, as a rectangular table
    width = max(len(s) for s in SEATS)
    seat_table = np.array([[s[min(j, len(s) - 1)] for j in range(width)] for s in SEATS])
    lengths = np.array([len(s) for s in SEATS])
    seats = seat_table[seg, (rng.random(n) * lengths[seg]).astype(np.int64)]
    users_base = np.array([b for b, _ in USERS_BASE])
    users_mean = np.array([mu for _, mu in USERS_BASE])
    n_users = users_base[seg] + rng.poisson(users_mean[seg])
    return Traits(seg, plan0, country, channel, health, seats, n_users)


def customers_table(cid, signup: np.ndarray, t: Traits):
    import pyarrow as pa

    return pa.table({
        "customer_id": cid,
        "signup_date": pa.array(signup.astype("datetime64[D]")),
        "plan": strings(PLANS, t.plan0),
        "segment": strings(SEGMENTS, t.seg),
        "country": strings(COUNTRIES, t.country),
        "channel": strings(CHANNELS, t.channel),
    })


def subscriptions_table(cid, ids: Ids, r: dict, running: np.ndarray):
    """``r``: columns cust, start, end, mrr, trial, year, reason (-1: none) of the rows, in
    output order; ``running`` rows have no end_date (nor cancel_reason)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rank = group_positions(np.bincount(r["cust"], minlength=len(cid))) + 1
    cust_ids = cid.take(pa.array(r["cust"]))
    return pa.table({
        "subscription_id": pc.binary_join_element_wise(cust_ids, ids("S", rank, 2), "-"),
        "customer_id": cust_ids,
        "start_date": pa.array(r["start"].astype("datetime64[D]")),
        "end_date": pa.array(r["end"].astype("datetime64[D]"), mask=running),
        "mrr": r["mrr"],
        "is_trial": r["trial"],
        "billing_interval": strings(("month", "year"), r["year"].astype(np.int64)),
        "cancel_reason": strings(CANCEL_REASONS, np.maximum(r["reason"], 0),
                                 mask=(r["reason"] < 0) | running),
    })


def referrals_table(ids: Ids, referrer: np.ndarray, at: np.ndarray, referred: np.ndarray):
    """Customer numbers (0-based) of both sides; ``referred`` -1: never became a customer."""
    import pyarrow as pa

    return pa.table({
        "referrer_customer_id": ids("C", referrer + 1),
        "referred_at": pa.array(at, pa.timestamp("us")),
        "referred_customer_id": pa.array(
            ids("C", np.maximum(referred, 0) + 1).to_numpy(zero_copy_only=False),
            pa.string(), mask=referred < 0),
    })


def referral_times(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    """Invitations sent during the working day (UTC)."""
    return utc_us(day, rng.uniform(8 * 3600, 20 * 3600, len(day)), np.zeros(len(day)))


# --------------------------------------------------------------------------------------------
# Product events
# --------------------------------------------------------------------------------------------
def vigour(health: np.ndarray) -> np.ndarray:
    """How much a customer uses the product, from its health."""
    return np.minimum(health, 2.0) ** 0.8


def session_events(rng: np.random.Generator, day, cust, decline, lo_us, hi_us, *, health,
                   vigour, n_users, offset) -> dict:
    """The events of sessions held on ``day`` by customers ``cust`` (arrays over the sessions;
    ``decline`` < 1 in the weeks before a churn; a session must start at or after ``lo_us``
    and its events before ``hi_us``): a login, then basic features for everybody and advanced
    ones for healthy customers not about to churn.

    ``health``, ``vigour``, ``n_users`` and ``offset`` (UTC offset, hours) are per customer.

    Returns arrays over the kept events, ordered by customer and time: cust, user, at, name,
    session (index into the sessions), duration."""
    ns = len(day)
    local = np.clip(rng.normal(13.0, 3.2, ns), 5.0, 23.5) * 3600.0
    s_at = utc_us(day, local, offset[cust])
    user = (n_users[cust] * rng.random(ns) ** 2).astype(np.int64)
    n_ev = 1 + rng.poisson(EVENTS_PER_SESSION * np.sqrt(vigour[cust]))
    e_sess = np.repeat(np.arange(ns), n_ev)
    ne = len(e_sess)
    pos = group_positions(n_ev)
    e_cust = cust[e_sess]
    breadth = np.clip(0.22 * health[e_cust] * decline[e_sess] ** 2, 0.03, 0.6)
    # the feature's uniform is drawn before the basic-or-advanced one
    u, advanced = rng.random(ne), rng.random(ne)
    basic = np.array(BASIC_EVENTS)[np.searchsorted(np.cumsum(BASIC_P)[:-1], u, "right")]
    adv = np.array(ADVANCED_EVENTS)[np.searchsorted(np.cumsum(ADVANCED_P)[:-1], u, "right")]
    name = np.where(pos == 0, 0, np.where(advanced < breadth, adv, basic))
    duration = np.where(name == 0, rng.uniform(3.0, 20.0, ne),
                        np.where(name == 6, rng.uniform(0.05, 2.0, ne),
                                 rng.lognormal(np.log(40.0), 0.9, ne)))
    duration = np.round(duration, 3)
    step = duration + rng.exponential(20.0, ne)  # think time before the next event
    before = np.cumsum(step) - step
    starts = np.cumsum(n_ev) - n_ev
    e_at = s_at[e_sess] + np.round((before - np.repeat(before[starts], n_ev)) * 1e3).astype(
        np.int64) * 1000
    # a session starts inside its span (in UTC); events past the span's end are cut
    keep = (s_at[e_sess] >= lo_us[e_sess]) & (e_at < hi_us[e_sess])
    # stable: events of one customer at one instant stay in session and position order
    order = np.flatnonzero(keep)[np.lexsort((e_at[keep], e_cust[keep]))]
    return {"cust": e_cust[order], "user": user[e_sess[order]], "at": e_at[order],
            "name": name[order], "session": e_sess[order], "duration": duration[order]}


def events_table(cid, ids: Ids, e: dict, session_base: int = 0, session_width: int = 10):
    """``e`` from :func:`session_events`; session ids count from ``session_base`` + 1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cust_ids = cid.take(pa.array(e["cust"]))
    return pa.table({
        "customer_id": cust_ids,
        "user_id": pc.binary_join_element_wise(cust_ids, ids("U", e["user"] + 1, 3), "-"),
        "event_time": pa.array(e["at"], pa.timestamp("us")),
        "event_name": strings(EVENT_NAMES, e["name"]),
        "session_id": ids("S", session_base + e["session"] + 1, session_width),
        "duration_seconds": e["duration"],
    })


# --------------------------------------------------------------------------------------------
# Voice of the customer
# --------------------------------------------------------------------------------------------
def daily_ticket_rate(seg: np.ndarray, health: np.ndarray) -> np.ndarray:
    """Tickets per active day, more for unhealthy customers."""
    return np.array(TICKET_RATE)[seg] / 30.0 * health ** -0.5


def ticket_times(rng: np.random.Generator, day, offset, seg):
    """Tickets opened on ``day`` (local hours around 13:00) by customers of segment ``seg``:
    (created, resolution hours, resolved)."""
    at = utc_us(day, rng.normal(13 * 3600, 3 * 3600, len(day)), offset)
    hours = rng.lognormal(np.log(np.array(RESOLUTION_HOURS)[seg]), 1.0)
    return at, hours, at + np.round(hours * 3.6e6).astype(np.int64) * 1000


def tickets_table(cid, cust, at, resolved, unresolved):
    import pyarrow as pa

    return pa.table({
        "customer_id": cid.take(pa.array(cust)),
        "created_at": pa.array(at, pa.timestamp("us")),
        "resolved_at": pa.array(resolved, pa.timestamp("us"), mask=unresolved),
    })


def nps_answers(rng: np.random.Generator, day, offset, health, drop):
    """NPS answers on ``day`` (local hours around 14:00): (at, score 0–10), the score higher
    for healthier customers, lower by ``drop`` (customers about to churn)."""
    at = utc_us(day, rng.normal(14 * 3600, 3 * 3600, len(day)), offset)
    score = np.clip(np.round(rng.normal(7.4 + 2.2 * np.log(health) - drop, 1.7)), 0,
                    10).astype(np.int64)
    return at, score


def csat_answers(rng: np.random.Generator, cust, resolved, hours, unresolved, end_us):
    """CSAT answers some hours after a resolved ticket (lower after a slow resolution), kept
    before ``end_us``: (cust, at, score)."""
    pick = (~unresolved) & (rng.random(len(cust)) < CSAT_P)
    cs_cust = cust[pick]
    cs_at = resolved[pick] + np.round(rng.exponential(6.0, len(cs_cust)) * 3.6e6).astype(
        np.int64) * 1000
    cs_score = np.clip(np.round(rng.normal(4.5 - 0.45 * np.log1p(hours[pick] / 24.0), 0.8)),
                       1, 5).astype(np.int64)
    ok = cs_at < end_us
    return cs_cust[ok], cs_at[ok], cs_score[ok]


def surveys_table(rng: np.random.Generator, cid, cust, at, kind, score):
    """``kind`` 0 NPS, 1 CSAT; some answers carry a comment matching the score's sentiment,
    and some comments have no sentiment label yet."""
    import pyarrow as pa

    band = np.where(kind == 0, np.where(score >= 9, 0, np.where(score >= 7, 1, 2)),
                    np.where(score >= 4, 0, np.where(score == 3, 1, 2)))
    nv = len(cust)
    has_comment = rng.random(nv) < COMMENT_P
    draw = rng.random(nv)
    comment = np.full(nv, None, dtype=object)
    for b, label in enumerate(SENTIMENTS):
        pool = np.array(COMMENTS[label], dtype=object)
        sel = has_comment & (band == b)
        comment[sel] = pool[(draw[sel] * len(pool)).astype(np.int64)]
    unlabelled = rng.random(nv) < 0.08  # comments nobody has classified yet
    return pa.table({
        "customer_id": cid.take(pa.array(cust)),
        "responded_at": pa.array(at, pa.timestamp("us")),
        "survey": strings(("nps", "csat"), kind),
        "score": score.astype(np.int32),
        "comment": pa.array(comment, pa.string()),
        "sentiment": strings(SENTIMENTS, band, mask=~has_comment | unlabelled),
    })

"""Plain-Python reference for the engagement, voice and journey metrics
(docs/definitions.md#engagement, docs/definitions.md#voice-of-the-customer).

Written from the definitions, not from the SQL: events are plain tuples, days come from
``zoneinfo``, periods from ``datetime``; sets do the distinct counting. Slow and obvious on
purpose. Periods here are calendar months (the package's default grain) and weeks start on
Monday.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from zoneinfo import ZoneInfo


def local_time(text: str, tz: str) -> dt.datetime:
    """A timestamp string as naive local time: offsets are converted, naive values kept."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return value


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def week_of(day: dt.date) -> dt.date:
    """Monday of the day's week."""
    return day - dt.timedelta(days=day.weekday())


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


class Activity:
    """Events as (customer, user, local time, event name)."""

    def __init__(self, events, tz: str, as_of: dt.date):
        self.as_of = as_of
        self.events = []
        for customer, user, when, name in events:
            t = local_time(when, tz)
            if t.date() <= as_of:
                self.events.append((customer, user, t, name))
        self.by_day: dict[dt.date, set] = defaultdict(set)
        self.users_by_day: dict[dt.date, set] = defaultdict(set)
        for customer, user, t, _ in self.events:
            self.by_day[t.date()].add(customer)
            if user is not None:
                self.users_by_day[t.date()].add((customer, user))

    # -- active customers ---------------------------------------------------------------------
    def months(self) -> list[dt.date]:
        first = month_of(min(self.by_day))
        out = []
        m = first
        while m <= self.as_of:
            out.append(m)
            m = next_month(m)
        return out

    def month_days(self, month: dt.date, data_start: dt.date) -> list[dt.date]:
        first = max(month, data_start)
        last = min(next_month(month) - dt.timedelta(days=1), self.as_of)
        return days_between(first, last)

    def active_in(self, days) -> set:
        out = set()
        for d in days:
            out |= self.by_day.get(d, set())
        return out

    def monthly(self, data_start: dt.date) -> dict[dt.date, dict]:
        """MAU, average DAU (zero days included), average WAU, stickiness per month."""
        rows = {}
        for m in self.months():
            days = self.month_days(m, data_start)
            mau = self.active_in(days)
            dau = [len(self.by_day.get(d, set())) for d in days]
            wau = []
            for d in days:
                week = [w for w in days_between(week_of(d), week_of(d) + dt.timedelta(days=6))
                        if w <= self.as_of]
                wau.append(len(self.active_in(week)))
            users = set()
            for d in days:
                users |= self.users_by_day.get(d, set())
            avg_dau = sum(dau) / len(days)
            rows[m] = {
                "days": len(days),
                "active_customers": len(mau),
                "avg_daily_active_customers": avg_dau,
                "avg_weekly_active_customers": sum(wau) / len(days),
                "stickiness": avg_dau / len(mau) if mau else None,
                "active_users": len(users),
            }
        return rows

    def usage_frequency(self) -> dict[tuple[dt.date, int], int]:
        """(month, active days) -> customers."""
        per_customer: dict[tuple[dt.date, str], set] = defaultdict(set)
        for customer, _, t, _ in self.events:
            per_customer[(month_of(t.date()), customer)].add(t.date())
        out: dict[tuple[dt.date, int], int] = defaultdict(int)
        for (month, _), days in per_customer.items():
            out[(month, len(days))] += 1
        return dict(out)

    # -- lifecycle ------------------------------------------------------------------------------
    def lifecycle(self) -> dict[dt.date, dict]:
        active_months: dict[str, set] = defaultdict(set)
        for customer, _, t, _ in self.events:
            active_months[customer].add(month_of(t.date()))
        rows = {}
        for m in self.months():
            prev = month_of(m - dt.timedelta(days=1))
            row = dict.fromkeys(("new", "returning", "resurrecting", "dormant", "active"), 0)
            for months in active_months.values():
                now, before = m in months, prev in months
                earlier = any(x < m for x in months)
                if now:
                    row["active"] += 1
                    if not earlier:
                        row["new"] += 1
                    elif before:
                        row["returning"] += 1
                    else:
                        row["resurrecting"] += 1
                elif before:
                    row["dormant"] += 1
            rows[m] = row
        return rows

    # -- weekly event retention -----------------------------------------------------------------
    def event_retention(self) -> dict[tuple[dt.date, int], tuple[int, int | None, int | None]]:
        """(cohort week, k) -> (cohort size, retained on week k, retained on or after k)."""
        weeks: dict[str, set] = defaultdict(set)
        for customer, _, t, _ in self.events:
            weeks[customer].add(week_of(t.date()))
        cohorts: dict[dt.date, list[set]] = defaultdict(list)
        for w in weeks.values():
            cohorts[min(w)].append(w)
        last_week = week_of(self.as_of)
        out = {}
        for cohort, members in cohorts.items():
            k = 0
            while cohort + dt.timedelta(weeks=k) <= last_week:
                target = cohort + dt.timedelta(weeks=k)
                on = sum(1 for w in members if target in w)
                after = sum(1 for w in members if max(w) >= target)
                out[(cohort, k)] = (len(members), on, after)
                k += 1
        return out

    # -- sessions -------------------------------------------------------------------------------
    def sessions(self, timeout_seconds: int = 1800) -> dict[tuple[str, dt.date], tuple[int, float]]:
        """(customer, month) -> (sessions, seconds first-to-last event), cut at the timeout."""
        per_user: dict[tuple[str, str | None], list[dt.datetime]] = defaultdict(list)
        for customer, user, t, _ in self.events:
            per_user[(customer, user)].append(t)
        out: dict[tuple[str, dt.date], list] = defaultdict(lambda: [0, 0.0])
        for (customer, _), times in per_user.items():
            times.sort()
            start = prev = times[0]
            for t in [*times[1:], None]:
                if t is None or (t - prev).total_seconds() > timeout_seconds:
                    cell = out[(customer, month_of(start.date()))]
                    cell[0] += 1
                    cell[1] += (prev - start).total_seconds()
                    start = t
                prev = t
        return {k: (v[0], v[1]) for k, v in out.items()}

    # -- features -------------------------------------------------------------------------------
    def feature_adoption(self) -> dict[tuple[dt.date, str], tuple[int, int]]:
        """(month, feature) -> (customers using it, active customers)."""
        users: dict[tuple[dt.date, str], set] = defaultdict(set)
        active: dict[dt.date, set] = defaultdict(set)
        for customer, _, t, name in self.events:
            users[(month_of(t.date()), name)].add(customer)
            active[month_of(t.date())].add(customer)
        return {k: (len(v), len(active[k[0]])) for k, v in users.items()}

    def time_of_use(self) -> dict[tuple[dt.date, int, int], int]:
        """(month, ISO weekday, hour) -> events."""
        out: dict[tuple[dt.date, int, int], int] = defaultdict(int)
        for _, _, t, _ in self.events:
            out[(month_of(t.date()), t.isoweekday(), t.hour)] += 1
        return dict(out)


# -- voice of the customer ---------------------------------------------------------------------

def nps(scores: list[int]) -> dict:
    n = len(scores)
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    passives = n - promoters - detractors
    if n == 0:
        return {"responses": 0, "promoters": 0, "passives": 0, "detractors": 0, "nps": None}
    p, d = promoters / n, detractors / n
    value = 100 * (p - d)
    margin = 1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return {
        "responses": n, "promoters": promoters, "passives": passives, "detractors": detractors,
        "nps": value, "nps_ci_lower": max(-100.0, value - margin),
        "nps_ci_upper": min(100.0, value + margin),
    }


def csat(scores: list[int]) -> dict:
    n = len(scores)
    satisfied = sum(1 for s in scores if s >= 4)
    return {"responses": n, "satisfied": satisfied,
            "csat": 100 * satisfied / n if n else None,
            "mean_score": sum(scores) / n if n else None}


# -- fixtures ----------------------------------------------------------------------------------

def build_tables(folder, tables: dict[str, str], **settings):
    """Write CSV tables into ``folder/src``, build them into ``folder/m.duckdb``; returns the
    BuildResult and a read-only connection (close it)."""
    from pathlib import Path

    import duckdb

    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings

    src = Path(folder) / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (src / f"{name}.csv").write_text(text.strip() + "\n", encoding="utf-8")
    db = Path(folder) / "m.duckdb"
    result = build(src, parse_settings(settings), database=db)
    return result, duckdb.connect(str(db), read_only=True)


def rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def build_in_memory(folder, tables: dict[str, str], only: list[str], **settings):
    """Stage CSV tables and build only the ``only`` models (list their dependencies too) in an
    in-memory DuckDB: the fast path for property tests. Returns the connection (close it)."""
    from pathlib import Path

    from saas_retention.builders.atomic import connect as _connect
    from saas_retention.builders.duckdb.run import build_models
    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager
    from saas_retention.core.config import parse_settings

    src = Path(folder) / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (src / f"{name}.csv").write_text(text.strip() + "\n", encoding="utf-8")
    parsed = parse_settings(settings)
    con = _connect()
    report = Stager(con, open_source(src), parsed).run()
    build_models(con, parsed, report, only=only)
    return con


# -- journey -----------------------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def journey(signups: dict[str, dt.date], events: list[tuple[str, dt.date, str]],
            paid: list[tuple[str, dt.date, dt.date | None]], *, activation_event: str | None,
            window_days: int, as_of: dt.date, grace_days: int = 7) -> dict[str, dict]:
    """Per customer: eligible, and each step's condition (monthly paid terms)."""
    out = {}
    for customer, signup in signups.items():
        window_end = signup + dt.timedelta(days=window_days)  # exclusive
        mine = [(d, n) for c, d, n in events if c == customer and d >= signup]
        activated = any(d < window_end and (not activation_event or n == activation_event)
                        for d, n in mine)
        weeks = {(d - signup).days // 7 for d, _ in mine if (d - signup).days < 28}
        subs = sorted((s, e) for c, s, e in paid if c == customer)
        paying = bool(subs) and subs[0][0] < window_end
        renewed = False
        ends = []
        for s, e in subs:
            term_end = add_months(s, 1)
            if e is not None and e <= term_end:
                term_end = e
            if term_end <= as_of:
                ends.append((term_end, s, e))
        if ends:
            first_end = min(t for t, _, _ in ends)
            for t, s, e in ends:
                if t != first_end:
                    continue
                if e is None or e > t:
                    renewed = True  # went on past its first term
                for s2, e2 in subs:
                    if (s2, e2) != (s, e) and s2 <= t + dt.timedelta(days=grace_days) and (
                            e2 is None or e2 > t):
                        renewed = True
        out[customer] = {
            "eligible": signup + dt.timedelta(days=max(window_days, 28)) <= as_of
            + dt.timedelta(days=1),
            "steps": [True, activated, len(weeks) >= 3, paying, renewed],
        }
    return out


def funnel(journeys: dict[str, dict]) -> list[tuple[int, int]]:
    """[(ordered count, any-order count)] for the five steps, eligible customers only."""
    eligible = [j["steps"] for j in journeys.values() if j["eligible"]]
    result = []
    for k in range(5):
        ordered = sum(1 for s in eligible if all(s[: k + 1]))
        result.append((ordered, sum(1 for s in eligible if s[k])))
    return result

"""The incremental part of ``saas-retention bench``: one more day of events.

The generated source minus its last day of events is built with ``build --incremental`` (a full
build that records the refresh state); then the whole source, one day later, is refreshed with
``build --incremental`` and, separately, rebuilt in full with ``build``. Each runs in a fresh
interpreter (no warm compile cache) and is timed inside it, like the main benchmark's builds.
The refreshed database is checked against the full rebuild, table by table: a fast refresh that
gives other numbers would be worthless.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlglot import exp

from saas_retention.bench.measure import child_env


def previous_day_source(source: Path, target: Path, last_day: dt.date) -> int:
    """``target``: the Parquet source without the events of ``last_day`` (and later); the
    other tables are linked unchanged. Returns the number of event rows left out."""
    import duckdb

    from saas_retention.builders.duckdb.sources import parquet_reader

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "events" and item.suffix == ".parquet":
            os.symlink(item.resolve(), target / item.name)
    (target / "events").mkdir()
    con = duckdb.connect()
    try:
        events = exp.select("*").from_(parquet_reader(source / "events")).sql("duckdb")
        day = exp.Literal.string(last_day.isoformat()).sql("duckdb")
        out = exp.Literal.string(str(target / "events" / "part-00000.parquet")).sql("duckdb")
        con.execute(f"copy (select * from ({events}) where cast(event_time as date) < "
                    f"cast({day} as date)) to {out} (format parquet)")
        return con.execute(f"select count(*) from ({events}) where cast(event_time as date) >= "
                           f"cast({day} as date)").fetchall()[0][0]
    finally:
        con.close()


def _in_child(mode: str, source: Path, database: Path, as_of: dt.date, work: Path) -> dict:
    out = work / f"incremental-{mode}.json"
    args = json.dumps({"mode": mode, "source": str(source), "database": str(database),
                       "as_of": as_of.isoformat(), "out": str(out)})
    proc = subprocess.run([sys.executable, "-m", "saas_retention.bench.incremental", "--child",
                           args], capture_output=True, text=True, env=child_env(work.parent))
    if proc.returncode != 0:
        raise RuntimeError(f"the benchmark's {mode} build failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def _child(options: dict) -> None:
    from saas_retention.bench.measure import cpu_seconds
    from saas_retention.builders.duckdb.run import build
    from saas_retention.builders.incremental.refresh import build_incremental
    from saas_retention.catalog.templates import load_catalog
    from saas_retention.core.config import parse_settings

    settings = parse_settings({"as_of": dt.date.fromisoformat(options["as_of"])})
    cpu = cpu_seconds()
    started = time.perf_counter()
    load_catalog()
    mode = options["mode"]
    info: dict = {}
    stamps: list[tuple[float, str]] = []

    def progress(message: str) -> None:
        stamps.append((time.perf_counter() - started, message))

    if mode == "incremental":
        result = build_incremental(options["source"], settings, database=options["database"],
                                   progress=progress)
        stamps.append((time.perf_counter() - started, ""))
        info = {"incremental": result.incremental, "reason": result.reason,
                "staged_events": result.staged_events, "refreshed": result.refreshed,
                "steps": refresh_steps(stamps)}
    else:
        build(options["source"], settings, database=options["database"],
              keep_state=mode == "full_state")
    seconds = time.perf_counter() - started
    Path(options["out"]).write_text(json.dumps({"seconds": seconds,
                                                "cpu_seconds": cpu_seconds() - cpu, **info}))


def same_models(a: Path, b: Path) -> dict[str, bool]:
    """Per table of ``main``: the same rows in both files. The connection has a build's memory
    limit and spill folder: with DuckDB's default (80 % of the machine) EXCEPT ALL over two
    1M-customer files held 20 GB."""
    import duckdb

    from saas_retention.builders.atomic import connect

    con = connect()
    try:
        for alias, path in (("a", a), ("b", b)):
            con.execute(f"attach {exp.Literal.string(str(path)).sql('duckdb')} as {alias} "
                        "(read_only)")
        names = sorted({r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_catalog in ('a', 'b')").fetchall()})
        same = {}
        for t in names:
            q = exp.to_identifier(t, quoted=True).sql("duckdb")
            try:
                diff = con.execute(
                    f"select (select count(*) from (select * from a.{q} except all "
                    f"select * from b.{q})) + (select count(*) from (select * from b.{q} "
                    f"except all select * from a.{q}))").fetchall()[0][0]
                same[t] = diff == 0
            except duckdb.Error:  # a table missing on one side or of other columns
                same[t] = False
        return same
    finally:
        con.close()


def refresh_floor(source: Path, state_db: Path, work: Path, as_of: dt.date,
                  samples: int = 2) -> dict:
    """What any refresh of ``state_db`` costs whatever it recomputes: copying the database
    file (the refresh is swapped in whole, so readers keep the old file) and reading every
    source event once to fingerprint its days (an edit to an earlier day must force a full
    rebuild). Best of ``samples``; opening the source is not timed."""
    from saas_retention.builders.atomic import connect
    from saas_retention.builders.duckdb.sources import open_source
    from saas_retention.builders.duckdb.stage import Stager
    from saas_retention.builders.incremental.state import event_day_fingerprints
    from saas_retention.core.config import parse_settings

    settings = parse_settings({"as_of": as_of})
    timed: list[dict] = []
    for _ in range(samples):
        copy = work / "floor-copy.duckdb"
        started = time.perf_counter()
        shutil.copyfile(state_db, copy)
        copied = time.perf_counter() - started
        copy.unlink()
        con = connect()
        try:
            stager = Stager(con, open_source(source), settings)
            stager.read()
            stager.type_tables()
            started = time.perf_counter()
            event_day_fingerprints(con, stager)
            fingerprints = time.perf_counter() - started
        finally:
            con.close()
        timed.append({"seconds": copied + fingerprints, "copy_seconds": copied,
                      "fingerprint_seconds": fingerprints})
    return min(timed, key=lambda t: t["seconds"])


# a refresh's progress messages, each sent when its step is done -> the step's label
_STEP_LABELS = (
    (re.compile(r"^copied "), "start (load the templates), copy the database (a refresh is "
     "swapped in whole)"),
    (re.compile(r"^read the source "), "read the source"),
    (re.compile(r"^fingerprinted the source's events"), "fingerprint every source event day"),
    (re.compile(r"^incremental refresh from "), "compare with the refresh state, decide"),
    (re.compile(r"^checked and staged the source"), "check and stage the source (events: the "
     "window)"),
    (re.compile(r"^staged [\d,]+ event rows"), "replace the window in the stored staged events"),
    (re.compile(r"^refreshed (?P<name>\S+) from "), "`{name}` (from the first new day)"),
    (re.compile(r"^changed since the last build"), "fingerprint the other tables"),
    (re.compile(r"^built (?P<name>\S+):"), "`{name}` (in full)"),
    (re.compile(r"^skipped (?P<name>\S+):"), "`{name}` (skipped)"),
    (re.compile(r"^kept (?P<name>\S+) before"), "`{name}` (closed periods kept)"),
    (re.compile(r"^refreshed (?P<name>\S+) for "), "`{name}` (changed customers)"),
    (re.compile(r"^$"), "after the models: manifest, drop staging, checkpoint, swap"),
)


def refresh_steps(stamps: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per step of a refresh from its progress stamps (seconds since the start, the
    message sent when a step ended; the last, empty, when the refresh returned): each step
    is the time since the previous stamp, so the steps add up to the whole refresh, whatever
    ran between two messages counted in the later one."""
    steps: dict[str, float] = {}
    previous = 0.0
    for at, message in stamps:
        label = next((text.format(**m.groupdict()) for pattern, text in _STEP_LABELS
                      if (m := pattern.match(message))), message[:60])
        steps[label] = steps.get(label, 0.0) + at - previous
        previous = at
    return steps


def measure(source: Path, work: Path, last_day: dt.date, repeat: int = 1,
            say: Callable[[str], None] | None = None) -> dict:
    """The source without its last two days of events is built in full with state; it is
    then refreshed with the day before the last (the first refresh after a full build) and
    again with the last day (the next day's refresh, what a daily job pays from its second
    day on), against a full rebuild of the whole source."""
    say = say or (lambda _m: None)
    previous, earlier = work / "previous-day", work / "two-days-before"
    appended = previous_day_source(source, previous, last_day)
    appended_first = previous_day_source(source, earlier, last_day - dt.timedelta(days=1)) - (
        appended)
    state_db, db, full_db = (work / n for n in ("state.duckdb", "refreshed.duckdb",
                                                 "full.duckdb"))
    day_before = last_day - dt.timedelta(days=1)
    states, firsts, nexts, fulls = [], [], [], []
    for i in range(repeat):
        say(f"incremental {i + 1}/{repeat}: full build with state, two days before")
        states.append(_in_child("full_state", earlier, state_db,
                                day_before - dt.timedelta(days=1), work))
        shutil.copyfile(state_db, db)
        say(f"incremental {i + 1}/{repeat}: first build --incremental, {appended_first:,} "
            "new events")
        firsts.append(_in_child("incremental", previous, db, day_before, work))
        say(f"incremental {i + 1}/{repeat}: next day's build --incremental, {appended:,} new "
            "events")
        nexts.append(_in_child("incremental", source, db, last_day, work))
        say(f"incremental {i + 1}/{repeat}: full rebuild of the same data")
        fulls.append(_in_child("full", source, full_db, last_day, work))
    floor = refresh_floor(source, state_db, work, last_day)
    same = same_models(db, full_db)
    first = min(firsts, key=lambda r: r["seconds"])
    following = min(nexts, key=lambda r: r["seconds"])
    full = min(fulls, key=lambda r: r["seconds"])
    state = min(states, key=lambda r: r["seconds"])
    entry = {
        "appended_events": appended,
        "appended_events_first": appended_first,
        "last_day": last_day.isoformat(),
        "full_with_state": {"seconds": state["seconds"], "cpu_seconds": state["cpu_seconds"],
                            "database_bytes": state_db.stat().st_size},
        # the first refresh after a full build (the figure earlier runs reported)
        "refresh": first,
        "next_day": following,
        "full": {**full, "database_bytes": full_db.stat().st_size},
        "ratio": first["seconds"] / full["seconds"],
        "next_day_ratio": following["seconds"] / full["seconds"],
        "floor": floor,
        "floor_ratio": floor["seconds"] / full["seconds"],
        "cpu_ratio": first["cpu_seconds"] / full["cpu_seconds"],
        "next_day_cpu_ratio": following["cpu_seconds"] / full["cpu_seconds"],
        # the database refreshed twice against the full rebuild of the same source
        "same_result": same,
        "samples": {"refresh": [round(r["seconds"], 4) for r in firsts],
                    "next_day": [round(r["seconds"], 4) for r in nexts],
                    "full": [round(r["seconds"], 4) for r in fulls]},
    }
    for p in (state_db, db, full_db):
        p.unlink(missing_ok=True)
    for folder in (previous, earlier):
        shutil.rmtree(folder, ignore_errors=True)
    say(f"incremental: first refresh {first['seconds']:.2f} s, next day's "
        f"{following['seconds']:.2f} s vs full {full['seconds']:.2f} s (ratios "
        f"{entry['ratio']:.2f}, {entry['next_day_ratio']:.2f}); same result: "
        f"{all(same.values())}")
    return entry


def markdown(entries: list[dict]) -> list[str]:
    rows = [e for e in entries if e.get("incremental")]
    if not rows:
        return []
    lines = [
        "",
        "## Incremental refresh: one more day of events",
        "",
        "The source without its last two days of events is built with `build --incremental` "
        "(a full build that also records the refresh state); it is refreshed with `build "
        "--incremental` and the day before the last (*first refresh*: the first after a full "
        "build, whose deletions hit rows the full build wrote in the engine's order), then "
        "again with the last day (*next day*: what a daily job pays from its second day on); "
        "the whole source is also rebuilt in full with `build`. Each runs in a fresh process. "
        "Target from issues 7 and 18: refresh ≤ 10 % of a full build. *Same result* compares "
        "every table of the twice-refreshed database with the full rebuild, row for row. "
        "*Floor* = "
        "what any refresh costs whatever it recomputes: copying the database file (a refresh "
        "is swapped in whole, so readers keep the old file) plus reading every source event "
        "once to fingerprint its days (an edit to an earlier day forces a full rebuild).",
        "",
        "| customers | events appended (first; next day) | events staged | full build s "
        "| first refresh s "
        "| **refresh ÷ full** | CPU ratio | next day's refresh s | **next day ÷ full** "
        "| floor s (copy + fingerprints) | floor ÷ full "
        "| full build with state s | state size | same result |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in rows:
        i = e["incremental"]
        r = i["refresh"]
        extra = i["full_with_state"]["database_bytes"] - i["full"]["database_bytes"]
        same = all(i["same_result"].values())
        runs = [r] + ([i["next_day"]] if "next_day" in i else [])
        staged = "; ".join("—" if x.get("staged_events") is None else f"{x['staged_events']:,}"
                           for x in runs)
        appended = "; ".join(f"{n:,}" for n in (i.get("appended_events_first"),
                                                 i["appended_events"]) if n is not None)
        lines.append(
            f"| {e['customers']:,} | {appended} | {staged} "
            f"| {i['full']['seconds']:.2f} | {r['seconds']:.2f} | **{i['ratio']:.2f}** "
            f"| {i['cpu_ratio']:.2f} | {_next_day(i)} "
            f"| {i['floor']['seconds']:.2f} ({i['floor']['copy_seconds']:.2f} + "
            f"{i['floor']['fingerprint_seconds']:.2f}) | {i['floor_ratio']:.2f} "
            f"| {i['full_with_state']['seconds']:.2f} "
            f"| +{extra / 2**20:.0f} MiB | {'yes' if same else '**NO**'} |")
        for label, run in (("first refresh", r), ("next day's refresh", i.get("next_day"))):
            if run and not run.get("incremental"):
                lines.append(f"\nThe {label} at {e['customers']:,} fell back to a full "
                             f"rebuild: {run.get('reason')}")
    return lines + _steps_markdown(rows)


def _steps_markdown(rows: list[dict], top: int = 15) -> list[str]:
    """Where each refresh's time went: its largest steps, sorted by the next day's refresh at
    the largest size (what a daily job pays), the rest summed in one row."""
    runs = [(e["customers"], i["refresh"].get("steps"), i.get("next_day", {}).get("steps"))
            for e in rows if (i := e["incremental"])]
    runs = [r for r in runs if r[1] and r[2]]
    if not runs:
        return []
    last = runs[-1]
    order = sorted(set(last[1]) | set(last[2]),
                   key=lambda k: -last[2].get(k, last[1].get(k, 0.0)))
    head, tail = order[:top], order[top:]
    lines = ["", "### Where the refresh time goes", "",
             "Seconds of each step of the refreshes above, timed inside them (the time between "
             "two of the refresh's progress messages, so the steps add up to the refresh); a "
             "model's step is its SQL and storing its rows. Sorted by the next day's refresh "
             f"at {last[0]:,} customers; its {top} largest steps, the others summed.", "",
             "| step | " + " | ".join(f"{c:,}: first s | {c:,}: next day s"
                                       for c, _, _ in runs) + " |",
             "|---|" + "---:|---:|" * len(runs)]

    def cell(steps: dict, keys: list[str]) -> str:
        found = [steps[k] for k in keys if k in steps]
        return f"{sum(found):.2f}" if found else "—"

    for key in head:
        lines.append(f"| {key} | " + " | ".join(f"{cell(f, [key])} | {cell(n, [key])}"
                                              for _, f, n in runs) + " |")
    if tail:
        lines.append(f"| {len(tail)} other steps | " + " | ".join(
            f"{cell(f, tail)} | {cell(n, tail)}" for _, f, n in runs) + " |")
    lines.append("| **total** | " + " | ".join(f"{sum(f.values()):.2f} | {sum(n.values()):.2f}"
                                              for _, f, n in runs) + " |")
    return lines


def _next_day(i: dict) -> str:
    """The next day's refresh columns; results of runs before it was measured have none."""
    if "next_day" not in i:
        return "— | —"
    return f"{i['next_day']['seconds']:.2f} | **{i['next_day_ratio']:.2f}**"


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))

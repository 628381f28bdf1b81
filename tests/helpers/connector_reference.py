"""Independent expected results of the connectors (issue 16): each tool's fixture read with
plain Python from the tool's documented format — never by running our SQL.

Every function returns the contract rows the connector must produce, as sorted tuples, and
the counts ``saas-retention check`` must report. Times are naive local times in ``tz``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVENT_COLUMNS = ("customer_id", "user_id", "event_time", "event_name", "session_id",
                 "duration_seconds")
UTC = dt.timezone.utc


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def local(seconds: float, tz: str) -> dt.datetime:
    return (dt.datetime.fromtimestamp(seconds, UTC).astimezone(ZoneInfo(tz))
            .replace(tzinfo=None))


def iso_local(text: str, tz: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _events(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(r[c] for c in EVENT_COLUMNS) for r in rows)


def _resolve(rows: list[dict], identity: dict[str, str] | None,
             user_customers: dict[str, str] | None = None) -> tuple[list[tuple], dict]:
    """rows carry user (resolved or None), anonymous, hint: customer = hint, else identity,
    else the tool's own user -> customer map, else the user's other rows' smallest hint."""
    from_rows: dict[str, str] = {}
    for r in rows:
        if r["user"] is not None and r["hint"] is not None:
            from_rows[r["user"]] = min(from_rows.get(r["user"], r["hint"]), r["hint"])
    kept, anonymous, unresolved = [], 0, 0
    for r in rows:
        customer = r["hint"]
        for mapping in (identity or {}, user_customers or {}, from_rows):
            if customer is None and r["user"] is not None:
                customer = mapping.get(r["user"])
        if customer is None:
            if r["user"] is None:
                anonymous += 1
            else:
                unresolved += 1
            continue
        kept.append({**r, "customer_id": customer,
                     "user_id": r["user"] if r["user"] is not None else r["anonymous"]})
    counts = {"anonymous": anonymous, "unresolved": unresolved,
              "users": len({r["user_id"] for r in kept}),
              "customers": len({r["customer_id"] for r in kept})}
    return _events(kept), counts


def mixpanel(tz: str = "UTC", identity: dict[str, str] | None = None, hints=True):
    """Mixpanel's raw export: de-duplicated on (event, distinct_id, time, $insert_id) when
    $insert_id is set; $device_id -> $user_id from events carrying both; time in seconds
    below 10^11, else milliseconds; the customer is the company_id property."""
    seen, events, duplicates = set(), [], 0
    for e in json_lines(FIXTURES / "mixpanel" / "mixpanel_export.jsonl"):
        p = e["properties"]
        key = (e["event"], p.get("distinct_id"), p.get("time"), p.get("$insert_id"))
        if p.get("$insert_id") is not None:
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
        events.append(e)
    device_user: dict[str, str] = {}
    for e in events:
        p = e["properties"]
        if p.get("$device_id") and p.get("$user_id"):
            device_user[p["$device_id"]] = min(device_user.get(p["$device_id"], p["$user_id"]),
                                               p["$user_id"])
    rows = []
    for e in events:
        p = e["properties"]
        distinct = p.get("distinct_id")
        device = p.get("$device_id") or (distinct[len("$device:"):]
                                         if distinct.startswith("$device:") else None)
        user = p.get("$user_id")
        if user is None and device is None:
            user = distinct
        if user is None:
            user = device_user.get(device)
        seconds = p["time"] if p["time"] < 10 ** 11 else p["time"] / 1000
        rows.append({"user": user, "anonymous": device,
                     "hint": p.get("company_id") if hints else None,
                     "event_time": local(seconds, tz), "event_name": e["event"],
                     "session_id": None, "duration_seconds": None})
    expected, counts = _resolve(rows, identity)
    return expected, {**counts, "duplicates": duplicates, "rows_read": len(events) + duplicates}


def ga4(tz: str = "UTC", identity: dict[str, str] | None = None, hints=True):
    """The GA4 BigQuery export: microsecond timestamps; user_id, else the user_id the same
    user_pseudo_id had on another row; session = user_pseudo_id + ga_session_id; duration =
    engagement_time_msec / 1000; company_id from event_params, else user_properties."""
    def params(records):
        out = {}
        for r in records or []:
            v = r["value"]
            out[r["key"]] = next(str(v[k]) for k in ("string_value", "int_value",
                                                     "double_value", "float_value")
                                 if v.get(k) is not None)
        return out

    events = json_lines(FIXTURES / "ga4" / "ga4_events.jsonl")
    device_user: dict[str, str] = {}
    for e in events:
        if e.get("user_id"):
            device_user[e["user_pseudo_id"]] = min(device_user.get(e["user_pseudo_id"],
                                                                   e["user_id"]), e["user_id"])
    rows = []
    for e in events:
        p, u = params(e["event_params"]), params(e["user_properties"])
        session = p.get("ga_session_id")
        msec = p.get("engagement_time_msec")
        rows.append({
            "user": e.get("user_id") or device_user.get(e["user_pseudo_id"]),
            "anonymous": e["user_pseudo_id"],
            "hint": (p.get("company_id") or u.get("company_id")) if hints else None,
            "event_time": local(int(e["event_timestamp"]) / 1e6, tz),
            "event_name": e["event_name"],
            "session_id": f"{e['user_pseudo_id']}.{session}" if session else None,
            "duration_seconds": float(msec) / 1000 if msec is not None else None})
    expected, counts = _resolve(rows, identity)
    return expected, {**counts, "duplicates": 0, "rows_read": len(events)}


def _csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]


def segment(tz: str = "UTC", identity: dict[str, str] | None = None, hints=True):
    """Segment's warehouse tables: one row per message id; anonymous_id -> user_id from
    identifies (or a track carrying both); the account is the group_id of the user's latest
    group call."""
    root = FIXTURES / "segment"
    seen, tracks, duplicates = set(), [], 0
    for t in _csv(root / "tracks.csv"):
        if t["id"] in seen:
            duplicates += 1
            continue
        seen.add(t["id"])
        tracks.append(t)
    links: dict[str, str] = {}
    for r in [*_csv(root / "identifies.csv"), *tracks]:
        if r["anonymous_id"] and r["user_id"]:
            links[r["anonymous_id"]] = min(links.get(r["anonymous_id"], r["user_id"]),
                                           r["user_id"])
    groups: dict[str, tuple[str, str]] = {}
    for g in _csv(root / "groups.csv"):
        if g["user_id"] and g["group_id"]:
            current = groups.get(g["user_id"])
            if current is None or (g["timestamp"], g["group_id"]) > current:
                groups[g["user_id"]] = (g["timestamp"], g["group_id"])
    rows = [{"user": t["user_id"] or links.get(t["anonymous_id"]),
             "anonymous": t["anonymous_id"], "hint": None,
             "event_time": iso_local(t["timestamp"], tz), "event_name": t["event"],
             "session_id": None, "duration_seconds": None} for t in tracks]
    user_groups = {u: g for u, (_, g) in groups.items()} if hints else None
    expected, counts = _resolve(rows, identity, user_groups)
    return expected, {**counts, "duplicates": duplicates, "rows_read": len(tracks) + duplicates}


def intercom(tz: str = "UTC", identity: dict[str, str] | None = None,
             customer_from: str = "property"):
    """Intercom conversations: created_at in seconds; resolved at statistics.last_close_at
    when the state is closed; the customer is the company_id custom attribute (property), or
    the company_id of the conversation's company (company), else the identity row of the
    first contact's external_id (else its id); ratings 1–5 -> csat at the rating's
    updated_at (else created_at), remark as comment."""
    tickets, ratings, unresolved = [], [], 0
    for c in json_lines(FIXTURES / "intercom" / "conversations.jsonl"):
        contact = c["contacts"]["contacts"][0]
        key = contact.get("external_id") or contact["id"]
        own = ((c.get("company") or {}) if customer_from == "company"
               else (c.get("custom_attributes") or {})).get("company_id")
        customer = own or (identity or {}).get(key)
        if customer is None:
            unresolved += 1
            continue
        close = c["statistics"].get("last_close_at")
        tickets.append((customer, local(c["created_at"], tz),
                        local(close, tz) if c["state"] == "closed" and close else None))
        rating = c.get("conversation_rating")
        if rating and rating.get("rating") is not None:
            ratings.append((customer, local(rating.get("updated_at") or rating["created_at"], tz),
                            "csat", float(rating["rating"]), rating.get("remark") or None))
    return sorted(tickets, key=repr), sorted(ratings, key=repr), unresolved


NPS_QUESTION = "How likely is it that you would recommend"
CSAT_QUESTION = "How satisfied"


def surveymonkey(questions: dict[str, str] | None = None, customer: str = "Account ID"):
    """SurveyMonkey's All Responses Data CSV: question texts on the first header row (blank
    over the further columns of one question), answer choices on the second (blank over the
    respondent columns); the score is the leading number of the answer; responded at End
    Date (MM/DD/YYYY hh:mm:ss AM, local time). Returns the responses and the answers left out
    for want of a customer."""
    questions = questions or {"nps": NPS_QUESTION, "csat": CSAT_QUESTION}
    with (FIXTURES / "surveymonkey" / "surveymonkey_responses.csv").open(
            newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    first, second, data = rows[0], rows[1], rows[2:]
    texts, current = [], ""
    for top, choice in zip(first, second, strict=True):
        current = top if (top or not choice) else current
        texts.append(current if choice else None)
    out, left_out = [], 0
    for r in data:
        record = dict(zip(first, r, strict=False))
        for i, text in enumerate(texts):
            answer = r[i].strip() if i < len(r) else ""
            survey = next((s for s, p in sorted(questions.items())
                           if text is not None and text.startswith(p)), None)
            if survey is None or not answer:
                continue
            number = ""
            for ch in answer:
                if not (ch.isdigit() or ch == "."):
                    break
                number += ch
            if not record[customer].strip():
                left_out += 1
                continue
            out.append((record[customer].strip(),
                        dt.datetime.strptime(record["End Date"], "%m/%d/%Y %I:%M:%S %p"),
                        survey, float(number), None))
    return sorted(out, key=repr), left_out


def surveymonkey_api(tz: str, questions: dict[str, str] | None = None,
                     variable: str = "account_id"):
    """SurveyMonkey's API bulk responses with the survey details: each answer's question is
    the question id's heading in the details, its value the text of its choice_id (an NPS
    question is a matrix: row_id and choice_id); the customer is the custom variable; the
    response time is date_modified (ISO 8601 with its offset) on the ``tz`` clock."""
    questions = questions or {"nps": NPS_QUESTION, "csat": CSAT_QUESTION}
    folder = FIXTURES / "surveymonkey_api"
    bulk = json.loads((folder / "surveymonkey_api_responses.json").read_text())
    details = json.loads((folder / "surveymonkey_api_responses.details.json").read_text())
    heading, choice_text = {}, {}
    for page in details["pages"]:
        for q in page["questions"]:
            heading[q["id"]] = q["headings"][0]["heading"]
            for c in q.get("answers", {}).get("choices", []):
                choice_text[c["id"]] = c["text"]
    out, left_out = [], 0
    for r in bulk["data"]:
        at = dt.datetime.fromisoformat(r["date_modified"]).astimezone(ZoneInfo(tz))
        for page in r["pages"]:
            for q in page["questions"]:
                survey = next((s for s, p in sorted(questions.items())
                               if heading[q["id"]].startswith(p)), None)
                if survey is None:
                    continue
                for a in q["answers"]:
                    text = choice_text[a["choice_id"]]
                    score = float(text.split(" ")[0])
                    customer = r["custom_variables"].get(variable, "")
                    if not customer:
                        left_out += 1
                        continue
                    out.append((customer, at.replace(tzinfo=None), survey, score, None))
    return sorted(out, key=repr), left_out


def surveymonkey_long_rows() -> list[dict]:
    """The export as a warehouse holds it (one row per respondent and answer column), for
    loading into PostgreSQL: read with the csv module, independently of the DuckDB reader."""
    with (FIXTURES / "surveymonkey" / "surveymonkey_responses.csv").open(
            newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    first, second, data = rows[0], rows[1], rows[2:]
    respondent = [i for i, c in enumerate(second) if not c]
    out, current = [], ""
    for i, (top, choice) in enumerate(zip(first, second, strict=True)):
        if not choice:
            current = ""
            continue
        current = top or current
        for r in data:
            out.append({**{first[j]: r[j] or None for j in respondent},
                        "question": current, "answer_choice": choice, "answer": r[i] or None})
    return out


def amplitude(tz: str = "UTC", identity: dict[str, str] | None = None, hints=True,
              kind: str = "group"):
    """Amplitude's export: one event per uuid, and a later copy of an insert_id on the same
    device_id within seven days of the copy before it is dropped (Amplitude's HTTP V2 API);
    event_time in UTC; user_id, else the user_id the same device_id had on another event;
    session = device_id + session_id unless -1; the customer is the group (a value, or the
    first of a list) or the company_id event, then user, property."""
    seen, events, duplicates = set(), [], 0
    last_copy: dict[tuple[str, str], dt.datetime] = {}
    lines = json_lines(FIXTURES / "amplitude" / "amplitude_events.jsonl")
    for e in sorted(lines, key=lambda e: e["event_time"]):
        at = dt.datetime.fromisoformat(e["event_time"])
        key = (e.get("device_id"), e.get("insert_id"))
        before = last_copy.get(key) if all(key) else None
        if all(key):
            last_copy[key] = at
        if e["uuid"] in seen or (before is not None
                                 and at - before <= dt.timedelta(days=7)):
            duplicates += 1
            continue
        seen.add(e["uuid"])
        events.append(e)
    device_user: dict[str, str] = {}
    for e in events:
        if e.get("user_id") and e.get("device_id"):
            device_user[e["device_id"]] = min(device_user.get(e["device_id"], e["user_id"]),
                                              e["user_id"])
    rows = []
    for e in events:
        if not hints:
            hint = None
        elif kind == "group":
            group = (e.get("groups") or {}).get("company")
            hint = group[0] if isinstance(group, list) else group
        else:
            hint = (e.get("event_properties") or {}).get("company_id") or \
                (e.get("user_properties") or {}).get("company_id")
        session = e.get("session_id")
        rows.append({"user": e.get("user_id") or device_user.get(e["device_id"]),
                     "anonymous": e["device_id"], "hint": hint,
                     "event_time": iso_local(e["event_time"], tz), "event_name": e["event_type"],
                     "session_id": None if session in (None, -1) else f"{e['device_id']}.{session}",
                     "duration_seconds": None})
    expected, counts = _resolve(rows, identity)
    return expected, {**counts, "duplicates": duplicates, "rows_read": len(events) + duplicates}


def posthog(tz: str = "UTC", identity: dict[str, str] | None = None, hints=True,
            kind: str = "group"):
    """PostHog's events: one per uuid; a user is a person (person_id), events without one
    are anonymous; timestamps ISO with an offset; session = properties.$session_id; the
    customer is properties.$groups.company (group) or properties.company_id (property)."""
    seen, events, duplicates = set(), [], 0
    for e in json_lines(FIXTURES / "posthog" / "posthog_events.jsonl"):
        if e["uuid"] in seen:
            duplicates += 1
            continue
        seen.add(e["uuid"])
        events.append(e)
    rows = []
    for e in events:
        p = e.get("properties") or {}
        hint = None if not hints else ((p.get("$groups") or {}).get("company") if kind == "group"
                                       else p.get("company_id"))
        rows.append({"user": e.get("person_id"), "anonymous": e["distinct_id"], "hint": hint,
                     "event_time": iso_local(e["timestamp"], tz), "event_name": e["event"],
                     "session_id": p.get("$session_id"), "duration_seconds": None})
    expected, counts = _resolve(rows, identity)
    return expected, {**counts, "duplicates": duplicates, "rows_read": len(events) + duplicates}


HOTJAR_QUESTION = "How likely are you to recommend"


def hotjar(customer: str = "company_id"):
    """Hotjar's survey export: one header row; the NPS column is the one whose header starts
    with the question; responded at Date Submitted (local time)."""
    with (FIXTURES / "hotjar" / "hotjar_responses.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    column = next(c for c in rows[0] if c.startswith(HOTJAR_QUESTION))
    out, left_out = [], 0
    for r in rows:
        if not r[column].strip():
            continue
        if not r[customer].strip():
            left_out += 1
            continue
        out.append((r[customer], dt.datetime.fromisoformat(r["Date Submitted"]), "nps",
                    float(r[column]), None))
    return sorted(out, key=repr), left_out


def hotjar_long_rows() -> list[dict]:
    with (FIXTURES / "hotjar" / "hotjar_responses.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [{**{k: v or None for k, v in r.items()}, "question": column,
             "answer_choice": "Response", "answer": r[column] or None}
            for column in rows[0] for r in rows]


def zendesk(tz: str = "UTC", identity: dict[str, str] | None = None):
    """Zendesk tickets: created_at in UTC; resolved at metric_set.solved_at when the status
    is solved or closed; the customer is organization_id, else the identity row of the
    requester."""
    tickets, left_out = [], 0
    for z in json_lines(FIXTURES / "zendesk" / "zendesk_tickets.jsonl"):
        customer = str(z["organization_id"]) if z.get("organization_id") is not None else \
            (identity or {}).get(str(z["requester_id"]))
        if customer is None:
            left_out += 1
            continue
        solved = (z.get("metric_set") or {}).get("solved_at")
        tickets.append((customer, iso_local(z["created_at"], tz),
                        iso_local(solved, tz) if solved and z["status"] in ("solved", "closed")
                        else None))
    return sorted(tickets, key=repr), left_out


def typeform(tz: str = "UTC", refs: dict[str, str] | None = None):
    """Typeform responses: each survey's answer is the number of the first answer whose
    field ref starts with the survey's prefix; the customer is the account_id hidden field;
    responded at submitted_at (UTC)."""
    refs = refs or {"nps": "nps", "csat": "csat"}
    out, left_out = [], 0
    for item in json_lines(FIXTURES / "typeform" / "typeform_responses.jsonl"):
        for survey, prefix in sorted(refs.items()):
            number = next((a["number"] for a in item["answers"]
                           if a["field"]["ref"].startswith(prefix)), None)
            if number is None:
                continue
            customer = item["hidden"].get("account_id") or None
            if customer is None:
                left_out += 1
                continue
            out.append((customer, iso_local(item["submitted_at"], tz), survey, float(number),
                        None))
    return sorted(out, key=repr), left_out

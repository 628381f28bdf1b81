"""Where users' tables come from: a directory of CSV/Parquet/JSON Lines files, one file, or a
DuckDB file.

A source makes each contract table it holds available in a DuckDB working connection as
``raw_<contract table>``. Warehouses (a SQLAlchemy URL) plug in behind the same interface:
``describe()`` says what exists, ``attach()`` exposes it.
"""

from __future__ import annotations

import difflib
import fnmatch
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from saas_retention.connectors.base import SURVEY_COLUMNS, WIDE_SURVEY
from saas_retention.core.config import Settings
from saas_retention.core.errors import SourceError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
# JSON Lines (one object a line: the export format of most product-analytics tools), and .json
# holding either JSON Lines or one array of objects
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
JSON_SUFFIXES = (*JSON_LINES_SUFFIXES, ".json", ".json.gz")
# Excel workbooks: read only where a survey export is expected (openpyxl, the xlsx extra)
XLSX_SUFFIXES = (".xlsx",)
MALFORMED_EXAMPLES = 3
# GA4's streaming export writes the day so far to events_intraday_YYYYMMDD and deletes it once
# the day's events_YYYYMMDD is complete (docs/connectors/ga4.md#daily-tables)
INTRADAY = re.compile(r"(?P<prefix>.*)intraday_(?P<day>\d{8})")
# a table too large for one file is extracted to several: events_20240101-000000000000.json
EXTRACT_SHARD = re.compile(r"-\d+$")


@dataclass(frozen=True)
class Relation:
    """One table of the source: how to read it in DuckDB, and a name for messages."""

    label: str  # what users recognise: a file path or a table name
    # a FROM-able expression (table or table function); None for an .xlsx workbook, which
    # Source.find reads when a table is taken from it
    reader: exp.Expression | None
    materialise: bool  # CSV is parsed once into the working database
    # why reading failed, in the user's terms (the file, line and text), when the reader knows
    # better than the engine's message; None: the engine's message is reported
    explain: Callable[[], str | None] | None = None
    path: Path | None = None  # the file read, when it is one


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES, *JSON_SUFFIXES, *XLSX_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _csv_reader(path: Path) -> exp.Expression:
    # Every column as text: types are checked and converted in staging, where a bad value
    # becomes a clear error with examples instead of a parser exception.
    return exp.func(
        "read_csv",
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("header"), expression=exp.true()),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
    )


def json_reader(path: Path) -> exp.Expression:
    """Every top-level field of the objects as a text column, nested objects and arrays as
    their JSON text.

    Like CSV, values stay text so that staging or a connector types them and reports the ones
    that do not convert; DuckDB's own detection would turn an ISO string into a TIMESTAMPTZ
    read in the session's zone, and a nested object into a STRUCT whose fields are fixed by
    the first rows sampled. ``maximum_depth=1`` keeps each field JSON, ``->> '$'`` gives its
    text; the whole file is sampled so that a key first seen late is still a column.
    """
    lines = path.name.lower().endswith(JSON_LINES_SUFFIXES)
    read = exp.func(
        "read_json",
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("format"),
               expression=exp.Literal.string("newline_delimited" if lines else "auto")),
        exp.EQ(this=exp.var("maximum_depth"), expression=exp.Literal.number(1)),
        exp.EQ(this=exp.var("sample_size"), expression=exp.Literal.number(-1)),
    )
    text = exp.Anonymous(this="json_extract_string",
                         expressions=[exp.Columns(this=exp.Star()), exp.Literal.string("$")])
    return exp.select(text).from_(read).subquery("json_lines")


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def malformed_json_lines(path: Path) -> str | None:
    """The lines of a JSON Lines file that are not one JSON object each: how many, and the
    first few with their line numbers and text. None when every line parses (an empty line
    is skipped, as DuckDB skips it), or when the file is one JSON array rather than lines.

    Runs only once DuckDB has refused the file: its message counts records, not the lines a
    user opens in an editor, and shows no text.
    """
    bad: list[tuple[int, str, str]] = []
    count = total = 0
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if number == 1 and text.startswith("[") and not path.name.lower().endswith(
                    JSON_LINES_SUFFIXES):
                return None
            total += 1
            try:
                value = json.loads(text)
                why = None if isinstance(value, dict) else "not a JSON object"
            except ValueError as exc:
                why = str(exc)
            if why:
                count += 1
                if len(bad) < MALFORMED_EXAMPLES:
                    bad.append((number, why, text))
    if not count:
        return None
    shown = "\n".join(f"    line {n}: {_shorten(t)}  ({why})" for n, why, t in bad)
    return (f"{path}: {count} of {total} lines {'is' if count == 1 else 'are'} not a JSON "
            f"object (JSON Lines: one object a line)\n{shown}")


def _shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_relation(path: Path) -> Relation:
    return Relation(str(path), json_reader(path), True, lambda: malformed_json_lines(path),
                    path)




def wide_survey_reader(path: Path, header_rows: int = 2, timezone: str = "UTC"
                       ) -> tuple[exp.Expression, str | None]:
    """A survey export with two header rows (SurveyMonkey's "All Responses Data": the question
    on the first row, the answer choice on the second; respondent columns such as Respondent
    ID, dates and custom variables have an empty second cell) as one row per respondent and
    answer column: the respondent columns, ``question``, ``answer_choice``, ``answer``.

    The two header rows are read in Python: SQL names columns from one header row at most,
    and a question spanning several choice columns names only its first (the others are
    blank and take the question on their left). DuckDB reads a CSV's rows; the union below
    turns each answer column into rows, so the connector selects questions by their text in
    SQL. With ``header_rows=1`` (Hotjar's export: one column per question, headed by its text)
    every column is both a respondent column and an answer column (choice ``Response``).
    An ``.xlsx`` workbook (the same export as Excel: its first sheet, read with openpyxl) and
    SurveyMonkey's API bulk responses (.json, with the survey details beside them: see
    ``surveymonkey_api_rows``; the response times are converted to ``timezone``) become the
    same rows in Python, read by DuckDB as a VALUES list.
    Returns the reader, or None and why the file does not have that layout.
    """
    lower = path.name.lower()
    if lower.endswith(XLSX_SUFFIXES):
        return _rows_reader(xlsx_rows(path), header_rows)
    if lower.endswith(JSON_SUFFIXES):
        rows, why = surveymonkey_api_rows(path, timezone)
        return (None, why) if rows is None else _rows_reader(rows, 2)
    import csv

    opener = gzip.open if lower.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        first = next(rows, None)
        second = next(rows, None) if header_rows == 2 else None
        data = next(rows, None)
    layout, why = _survey_layout(first, second, header_rows)
    if layout is None:
        return None, why
    respondent, answers = layout
    read = exp.func(
        "read_csv", exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("header"), expression=exp.false()),
        exp.EQ(this=exp.var("skip"), expression=exp.Literal.number(header_rows)),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
        exp.EQ(this=exp.var("names"), expression=exp.Array(
            expressions=[exp.Literal.string(f"c{i}") for i in range(len(first))])))
    return _unpivot(read if data is not None else None, respondent, answers), None


def _survey_layout(first: list[str] | None, second: list[str] | None, header_rows: int):
    """The respondent columns ``[(index, name)]`` and answer columns ``[(index, question,
    choice)]`` the header rows describe, or None and why they do not fit the layout."""
    if header_rows == 1:
        if not first:
            return None, "has no header row"
        respondent = list(enumerate(first))
        return (respondent, [(i, top, "Response") for i, top in respondent]), None
    if not first or second is None:
        return None, "has fewer than two header rows"
    if second[0].strip():
        return None, ("has no second header row (the respondent id column's second header "
                      f"cell is empty in the export; here it reads {second[0]!r})")
    second = [*second, *[""] * (len(first) - len(second))]
    respondent, answers, question = [], [], None
    for i, (top, choice) in enumerate(zip(first, second, strict=False)):
        if not choice.strip():
            respondent.append((i, top))
            question = None
            continue
        question = top if top.strip() else question
        answers.append((i, question or "", choice))
    if not answers:
        return None, ("has no answer columns (no second header row naming a response or an "
                      "answer choice)")
    return (respondent, answers), None


def _rows_reader(rows: list[list[str]], header_rows: int
                 ) -> tuple[exp.Expression | None, str | None]:
    """The survey layout over rows already read in Python (header rows first)."""
    first = rows[0] if rows else None
    second = rows[1] if header_rows == 2 and len(rows) > 1 else None
    layout, why = _survey_layout(first, second, header_rows)
    if layout is None:
        return None, why
    data = rows[header_rows:]
    width = len(first)
    values = None
    if data:
        values = exp.values(
            [tuple(exp.Literal.string(v) if v != "" else exp.null()
                   for v in [*r[:width], *[""] * (width - len(r))]) for r in data],
            alias="cells", columns=[f"c{i}" for i in range(width)])
    return _unpivot(values, *layout), None


def _unpivot(read: exp.Expression | None, respondent: list[tuple[int, str]],
             answers: list[tuple[int, str, str]]) -> exp.Expression:
    if read is None:
        # no response yet: DuckDB cannot sniff a file of headers alone
        empty = exp.select(*(exp.alias_(exp.cast(exp.null(), "VARCHAR"), name, quoted=True)
                             for name in [*(n for _, n in respondent), "question",
                                          "answer_choice", "answer"])).limit(0)
        return empty.subquery("wide_survey")
    branches = [
        exp.select(*(exp.alias_(exp.cast(exp.column(f"c{i}"), "VARCHAR"), name, quoted=True)
                     for i, name in respondent),
                   exp.alias_(exp.Literal.string(q), "question"),
                   exp.alias_(exp.Literal.string(choice), "answer_choice"),
                   exp.alias_(exp.cast(exp.column(f"c{i}"), "VARCHAR"), "answer"))
        .from_(read.copy())
        for i, q, choice in answers]
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return union.subquery("wide_survey")


def xlsx_rows(path: Path) -> list[list[str]]:
    """The first sheet of an Excel workbook as rows of text, as the CSV export writes them: a
    date cell as ISO ``YYYY-MM-DD HH:MM:SS``, a whole number without ``.0``, an empty cell
    as ``""``."""
    try:
        import openpyxl
    except ImportError:
        raise SourceError(
            f"{path}: reading .xlsx needs openpyxl: pip install 'saas-retention[xlsx]' "
            "(or save the export as CSV)") from None
    import datetime as dt

    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException…
        raise SourceError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    try:
        rows = [[text(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    while rows and not any(rows[-1]):
        rows.pop()  # a sheet's formatted but empty trailing rows
    return rows


# SurveyMonkey API: a response's own fields -> the CSV export's respondent columns
_API_RESPONDENT = (("id", "Respondent ID"), ("collector_id", "Collector ID"),
                   ("date_created", "Start Date"), ("date_modified", "End Date"),
                   ("ip_address", "IP Address"), ("email_address", "Email Address"),
                   ("first_name", "First Name"), ("last_name", "Last Name"))
_API_TIMES = ("date_created", "date_modified")


def _details_path(path: Path) -> Path:
    name = path.name
    for suffix in JSON_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(f"{name}.details.json")


def surveymonkey_api_rows(path: Path, timezone: str) -> tuple[list[list[str]] | None, str | None]:
    """SurveyMonkey's API bulk responses as the rows of its CSV export (two header rows).

    ``path`` holds ``GET /v3/surveys/{id}/responses/bulk``: its ``{"data": [...]}`` (or a JSON
    array / JSON Lines of such pages, as saved when paging); each response's
    ``pages[].questions[].answers[]`` name the choice, row and other ids of the survey. The
    survey's text — question headings, choice, row and "other" texts — is in ``GET
    /v3/surveys/{id}/details``, saved beside it as ``<stem>.details.json``. A question
    answered with a choice is one column (choice ``Response``, the answer the choice's text),
    a multiple-choice question one column per choice, a matrix one per row, an "other"
    answer its own column, a text answer ``Open-Ended Response``: the columns of the export.
    The API's times carry their UTC offset; they become the reporting zone's local time.
    """
    from zoneinfo import ZoneInfo

    details_path = _details_path(path)
    if not details_path.exists():
        return None, (f"is SurveyMonkey's API bulk responses: the survey details (GET "
                      f"/v3/surveys/{{id}}/details) must be saved beside it as "
                      f"{details_path.name}")
    try:
        with _open_text(path) as handle:
            text = handle.read()
        try:
            pages = [json.loads(text)]
        except ValueError:
            pages = [json.loads(line) for line in text.splitlines() if line.strip()]
        with details_path.open(encoding="utf-8") as handle:
            details = json.load(handle)
    except ValueError as exc:
        return None, f"(or {details_path.name}) is not JSON ({exc})"
    if len(pages) == 1 and isinstance(pages[0], list):
        pages = pages[0]
    responses = [r for page in pages if isinstance(page, dict)
                 for r in (page.get("data") or [])]
    if not isinstance(details, dict) or "pages" not in details or \
            any(not isinstance(p, dict) or "data" not in p for p in pages):
        return None, ("is not SurveyMonkey's API bulk responses (objects with a 'data' list) "
                      f"with the survey details ({details_path.name}: an object with "
                      "'pages')")
    questions, texts = [], {}
    for page in details.get("pages") or []:
        for q in page.get("questions") or []:
            heading = " ".join(h.get("heading", "") for h in q.get("headings") or [])
            questions.append((str(q["id"]), heading, q.get("family")))
            answers = q.get("answers") or {}
            for kind in ("choices", "rows", "cols"):
                for item in answers.get(kind) or []:
                    texts[str(item["id"])] = item.get("text", "")
            if answers.get("other"):
                texts[str(answers["other"]["id"])] = answers["other"].get("text", "Other")
    families = {qid: family for qid, _, family in questions}
    variables = sorted({k for r in responses for k in (r.get("custom_variables") or {})})
    columns: list[tuple[str, str, str]] = []  # (question id, choice, column key)
    answered: list[dict[tuple[str, str], str]] = []
    for r in responses:
        cells: dict[tuple[str, str], str] = {}
        for page in r.get("pages") or []:
            for q in page.get("questions") or []:
                family = families.get(str(q.get("id")))
                for a in q.get("answers") or []:
                    if a.get("other_id"):
                        choice, value = texts.get(str(a["other_id"]), "Other"), a.get("text")
                    elif a.get("row_id") and family == "matrix":
                        # an NPS or rating question is a matrix of one untitled row
                        choice = texts.get(str(a["row_id"])) or "Response"
                        value = texts.get(str(a.get("choice_id")), a.get("text"))
                    elif a.get("choice_id"):
                        choice = (texts.get(str(a["choice_id"]), "")
                                  if family == "multiple_choice" else "Response")
                        value = texts.get(str(a["choice_id"]))
                    else:
                        choice, value = "Open-Ended Response", a.get("text")
                    cells[(str(q.get("id")), choice)] = "" if value is None else str(value)
        answered.append(cells)
        for key in cells:
            if key not in [(c[0], c[1]) for c in columns]:
                columns.append((*key, ""))
    order = {qid: n for n, (qid, _, _) in enumerate(questions)}
    columns.sort(key=lambda c: order.get(c[0], len(order)))
    heading = {qid: h for qid, h, _ in questions}
    zone = ZoneInfo(timezone)

    def own(r: dict, field: str) -> str:
        value = r.get(field)
        if value in (None, ""):
            return ""
        if field in _API_TIMES:
            import datetime as dt

            try:
                stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise SourceError(
                    f"{path}: response {r.get('id')!r}: {field} {value!r} is not an ISO 8601 "
                    "date-time (the API writes 2024-01-10T14:03:10+00:00)") from None
            if stamp.tzinfo is not None:
                stamp = stamp.astimezone(zone).replace(tzinfo=None)
            return stamp.strftime("%Y-%m-%d %H:%M:%S")
        return str(value)

    first = [name for _, name in _API_RESPONDENT] + variables
    second = [""] * len(first)
    seen: set[str] = set()
    for qid, choice, _ in columns:
        first.append("" if qid in seen else heading.get(qid, qid))
        seen.add(qid)
        second.append(choice)
    rows = [first, second]
    for r, cells in zip(responses, answered, strict=True):
        custom = r.get("custom_variables") or {}
        rows.append([own(r, field) for field, _ in _API_RESPONDENT]
                    + [str(custom.get(v) or "") for v in variables]
                    + [cells.get((qid, choice), "") for qid, choice, _ in columns])
    return rows, None


def parquet_reader(path: Path) -> exp.Expression:
    target = str(path / "*.parquet") if path.is_dir() else str(path)
    return exp.func("read_parquet", exp.Literal.string(target))


class Source:
    """Base class; subclasses fill ``relations``."""

    description = "source"

    def relations(self) -> dict[str, Relation]:  # lower-cased name -> relation
        raise NotImplementedError

    def prepare(self, con) -> None:
        """Anything to run on the working connection before reading (e.g. ATTACH)."""

    def find(self, settings: Settings, table: str, layout: str | None = None
             ) -> Relation | None:
        """The relation of ``table``; ``layout`` (a connector's ToolTable.layout) reads its file
        another way than one header row of column names."""
        name = settings.source_table(table)
        relations = self.relations()
        relation = relations.get(name.lower())
        if relation is None and is_pattern(name):
            relation = shards(name, relations)
        if relation is None:
            return None
        xlsx = relation.path is not None and relation.label.lower().endswith(XLSX_SUFFIXES)
        if layout is None:
            if xlsx:
                raise SourceError(
                    f"{table}: {relation.label}: an .xlsx workbook is read only as a survey "
                    "tool's export (the surveymonkey and hotjar connectors); save this table "
                    "as CSV")
            return relation
        readable = relation.label.lower().endswith((*CSV_SUFFIXES, *XLSX_SUFFIXES)) or (
            layout == WIDE_SURVEY and relation.label.lower().endswith(JSON_SUFFIXES))
        if layout not in (WIDE_SURVEY, SURVEY_COLUMNS) or relation.path is None or \
                not readable:
            raise SourceError(f"{table}: {relation.label} must be the tool's CSV or XLSX "
                              "export" + (" (or SurveyMonkey's API bulk responses, .json)"
                                          if layout == WIDE_SURVEY else ""))
        reader, why = wide_survey_reader(relation.path, 2 if layout == WIDE_SURVEY else 1,
                                         settings.timezone)
        if reader is None:
            expected = ("a survey export with two header rows (question, then answer "
                        "choice)" if layout == WIDE_SURVEY else
                        "a survey export with one header row (one column per question)")
            raise SourceError(f"{table}: {relation.label} {why}: expected {expected}")
        return Relation(relation.label, reader, True, None, relation.path)

    def no_match_message(self, pattern: str) -> str:
        """Why a pattern (``events_*``) found nothing: what it is matched against, and every
        file or table there is (the first and last ten of many)."""
        found = _few(sorted(r.label for r in self.relations().values()), 20)
        return (f"{self.description}: no file or table matches {pattern!r} (a pattern is "
                "matched against file names without their .jsonl/.ndjson/.json/.csv/.parquet "
                f"and .gz endings, case-insensitively)\n  files found: "
                f"{found or 'none'}")

    def missing_table_message(self, settings: Settings, table: str) -> str:
        name = settings.source_table(table)
        if is_pattern(name):
            return f"{self.no_match_message(name)}\n  (the required input {table!r})"
        available = sorted(self.relations())
        close = difflib.get_close_matches(name.lower(), available, n=1)
        hint = f"; did you mean {close[0]!r} (map it with tables.{table}.table)?" if close else ""
        shown = ", ".join(available) if available else "none"
        return (
            f"{self.description}: no table {name!r} for the required input {table!r}"
            f"{hint}\n  tables found: {shown}"
        )


def is_pattern(name: str) -> bool:
    """A table name standing for several tables (BigQuery's wildcard ``events_*``)."""
    return "*" in name or "?" in name


def superseded(stems: list[str]) -> list[str]:
    """The intraday tables whose day's daily table is also there: GA4 replaces
    ``events_intraday_YYYYMMDD`` by ``events_YYYYMMDD`` when the day is complete, so a copy
    holding both holds that day twice."""
    tables = {s: EXTRACT_SHARD.sub("", s) for s in stems}
    present = set(tables.values())
    return [s for s in stems if (m := INTRADAY.fullmatch(tables[s]))
            and f"{m['prefix']}{m['day']}" in present]


def _few(labels: list[str], shown: int = 6) -> str:
    """File names for a message: a year of daily files as its first and last few."""
    names = [Path(label).name for label in labels]
    if len(names) > shown:
        names = [*names[: shown // 2], "…", *names[-(shown // 2):]]
    return ", ".join(names)


def shards(pattern: str, relations: dict[str, Relation]) -> Relation | None:
    """Every table whose name matches ``pattern`` (``events_*``: GA4's daily tables, one file
    per day as ``bq extract`` writes them), unioned by column name: a day may have columns
    another has not (GA4 adds fields), and is NULL in them. Each file is read as it would be
    alone (JSON as text), so a malformed line is still reported with its file and line.
    None when nothing matches."""
    stems = sorted(s for s in relations if fnmatch.fnmatchcase(s, pattern.lower()))
    if not stems:
        return None
    skipped = superseded(stems)
    parts = [relations[s] for s in stems if s not in skipped]
    unreadable = [p.label for p in parts if p.reader is None]
    if unreadable:
        raise SourceError(f"{pattern}: {', '.join(unreadable)}: an .xlsx workbook cannot be "
                          "one of the tables a pattern reads; save it as CSV or JSON Lines")
    # CSV and JSON are read as text (materialised), Parquet and database tables typed: a
    # union of both would make the engine cast JSON text to a STRUCT, which it cannot
    if len({p.materialise for p in parts}) > 1:
        kinds = ", ".join(f"{Path(p.label).name} ({'text' if p.materialise else 'typed'})"
                          for p in parts)
        raise SourceError(f"{pattern}: matches both CSV/JSON files and Parquet files or "
                          f"tables: {kinds}; give the days in one format")
    # a balanced tree: a year of days nested one union deep each is slow to generate
    # (and deeper than Python's recursion limit allows)
    def union(items: list[Relation]) -> exp.Query:
        if len(items) == 1:
            return exp.select("*").from_(items[0].reader.copy())
        half = len(items) // 2
        return exp.Union(this=union(items[:half]), expression=union(items[half:]),
                         distinct=False, by_name=True)

    kind = "file" if all(Path(p.label).exists() for p in parts) else "table"
    label = (f"{pattern} ({len(parts)} {kind}{'' if len(parts) == 1 else 's'}: "
             f"{_few([p.label for p in parts])})")
    if skipped:
        label += (f"; not read, their day's daily table being there: "
                  f"{_few([relations[s].label for s in skipped])}")

    def explain() -> str | None:
        found = [text for p in parts if p.explain and (text := p.explain())]
        return "\n".join(found) or None

    return Relation(label, union(parts).subquery("shards"), parts[0].materialise, explain)


class DirectorySource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.description = f"directory {path}"

    def relations(self) -> dict[str, Relation]:
        found: dict[str, Relation] = {}
        for item in sorted(self.path.iterdir()):
            lower = item.name.lower()
            if item.is_file() and lower.endswith(CSV_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), _csv_reader(item), True,
                                                      path=item)
            elif item.is_file() and lower.endswith(PARQUET_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), parquet_reader(item), False)
            elif item.is_file() and lower.endswith(JSON_SUFFIXES):
                found[_stem(item).lower()] = _json_relation(item)
            elif item.is_file() and lower.endswith(XLSX_SUFFIXES):
                # parsed by find() only when a table is read from it (openpyxl, in Python)
                # a CSV or JSON file of the same name wins: it is what the build read
                # before workbooks were listed
                found.setdefault(_stem(item).lower(),
                                 Relation(str(item), None, True, path=item))
            elif item.is_dir() and any(item.glob("*.parquet")):
                found[item.name.lower()] = Relation(str(item), parquet_reader(item), False)
        return found


class FileSource(Source):
    """A single CSV, Parquet or JSON Lines file: the subscriptions table."""

    def __init__(self, path: Path):
        self.path = path
        self.description = f"file {path}"

    def relations(self) -> dict[str, Relation]:
        if self.path.name.lower().endswith(JSON_SUFFIXES):
            return {_stem(self.path).lower(): _json_relation(self.path)}
        csv = self.path.name.lower().endswith(CSV_SUFFIXES)
        reader = _csv_reader(self.path) if csv else parquet_reader(self.path)
        return {_stem(self.path).lower(): Relation(str(self.path), reader, csv,
                                                   path=self.path)}

    def find(self, settings: Settings, table: str, layout: str | None = None
             ) -> Relation | None:
        if table == "subscriptions":
            return next(iter(self.relations().values()))
        return None


class DuckDBSource(Source):
    ALIAS = "sr_source"

    def __init__(self, path: Path):
        self.path = path
        self.description = f"DuckDB database {path}"
        self._tables: dict[str, str] | None = None

    def _list(self) -> dict[str, str]:
        if self._tables is None:
            import duckdb

            try:
                con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise SourceError(f"cannot open {self.description}: {exc}") from None
            try:
                rows = con.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = 'main' order by table_name"
                ).fetchall()
            finally:
                con.close()
            self._tables = {r[0].lower(): r[0] for r in rows}
        return self._tables

    def relations(self) -> dict[str, Relation]:
        return {
            lower: Relation(
                f"{self.path}:{name}",
                exp.table_(name, db="main", catalog=self.ALIAS, quoted=True),
                False,
            )
            for lower, name in self._list().items()
        }

    def prepare(self, con) -> None:
        attach = exp.Attach(
            this=exp.alias_(exp.Literal.string(str(self.path)), self.ALIAS),
            expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
        )
        con.execute(attach.sql("duckdb"))


def open_source(location: str | Path) -> Source:
    """Pick the source kind from what ``location`` is."""
    text = str(location)
    if "://" in text:
        # a warehouse is read where it lives, not by DuckDB (builders/warehouse/run.py)
        raise SourceError(
            f"{text.split('://')[0]}:// sources (warehouses through SQLAlchemy) are checked "
            "and built inside the warehouse: saas_retention.builders.warehouse.run."
            "check_on_warehouse / build_on_warehouse (the CLI's check and build do this)"
        )
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"source {path} does not exist")
    if path.is_dir():
        return DirectorySource(path)
    lower = path.name.lower()
    if lower.endswith((".duckdb", ".db", ".ddb")):
        return DuckDBSource(path)
    if lower.endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES, *JSON_SUFFIXES)):
        return FileSource(path)
    raise SourceError(
        f"source {path}: expected a directory of CSV/Parquet/JSON Lines files, a "
        ".csv/.parquet/.jsonl file or a .duckdb database"
    )


__all__ = ["Relation", "Source", "open_source"]

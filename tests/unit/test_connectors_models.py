"""The engagement and voice models built from each connector equal the same models built from
the same data given in the contract (issue 16's proof).

The contract copy is not produced by our SQL: it is the rows the independent reading of the
tool's documented format gives (tests/helpers/connector_reference.py), written as the
contract's CSV or Parquet. Each case stages one connector beside the same subscriptions and
builds only the models that read its contract table (``relations_read``), from the tool's
files and from the contract's, and compares every row of every one of those models.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import shutil
from pathlib import Path

import connector_reference as ref
import pytest

from saas_retention.builders.atomic import connect
from saas_retention.builders.duckdb.run import build_models, export_order, relations_read
from saas_retention.builders.duckdb.sources import open_source
from saas_retention.builders.duckdb.stage import Stager
from saas_retention.catalog.templates import load_catalog
from saas_retention.core.config import parse_settings

AS_OF = "2024-06-30"
SUBSCRIPTIONS = [("s1", "acme", "2024-01-01", "", "100"),
                 ("s2", "globex", "2024-01-15", "", "50"),
                 ("s3", "initech", "2024-01-10", "2024-03-01", "20")]
PARIS = "Europe/Paris"


def _gzip(name: str):
    # Amplitude's export comes gzipped (.json.gz files of JSON lines)
    def copy(root: Path) -> None:
        with gzip.open(root / f"{name}.json.gz", "wb") as f:
            f.write((ref.FIXTURES / "amplitude" / f"{name}.jsonl").read_bytes())
    return copy


def _files(folder: str, rename: dict[str, str] | None = None):
    def copy(root: Path) -> None:
        for item in (ref.FIXTURES / folder).iterdir():
            if item.name != "README.md":
                name = item.name
                for old, new in (rename or {}).items():
                    name = name.replace(old, new)
                shutil.copy(item, root / name)
    return copy


SURVEY = {"nps": ref.NPS_QUESTION, "csat": ref.CSAT_QUESTION}
# case -> (contract table, its settings, time zone, the tool's files, the reference rows)
CASES = {
    "ga4": ("events", {"connector": "ga4", "customer": {"property": "company_id"}}, PARIS,
            _files("ga4"), lambda: ref.ga4(PARIS)[0]),
    "segment": ("events", {"connector": "segment", "customer": {"group": "company"}}, PARIS,
                _files("segment"), lambda: ref.segment(PARIS)[0]),
    "rudderstack": ("events", {"connector": "rudderstack", "customer": {"group": "company"}},
                    "UTC", _files("segment"), lambda: ref.segment("UTC")[0]),
    "amplitude": ("events", {"connector": "amplitude", "customer": {"group": "company"}},
                  PARIS, _gzip("amplitude_events"), lambda: ref.amplitude(PARIS)[0]),
    "posthog": ("events", {"connector": "posthog", "customer": {"group": "company"}}, PARIS,
                _files("posthog"), lambda: ref.posthog(PARIS)[0]),
    "mixpanel": ("events", {"connector": "mixpanel", "customer": {"property": "company_id"}},
                 PARIS, _files("mixpanel"), lambda: ref.mixpanel(PARIS)[0]),
    "surveymonkey": ("survey_responses", {
        "connector": "surveymonkey", "customer": {"column": "Account ID"},
        "questions": SURVEY}, PARIS, _files("surveymonkey"), lambda: ref.surveymonkey()[0]),
    "surveymonkey_api": ("survey_responses", {
        "connector": "surveymonkey", "customer": {"column": "account_id"},
        "questions": SURVEY}, "America/New_York",
        _files("surveymonkey_api", {"surveymonkey_api_responses": "surveymonkey_responses"}),
        lambda: ref.surveymonkey_api("America/New_York")[0]),
    "hotjar": ("survey_responses", {
        "connector": "hotjar", "customer": {"column": "company_id"},
        "questions": {"nps": ref.HOTJAR_QUESTION}}, PARIS, _files("hotjar"),
        lambda: ref.hotjar()[0]),
    "typeform": ("survey_responses", {
        "connector": "typeform", "customer": {"property": "account_id"},
        "questions": {"nps": "nps", "csat": "csat"}}, PARIS, _files("typeform"),
        lambda: ref.typeform(PARIS)[0]),
    "intercom_ratings": ("survey_responses", {
        "connector": "intercom", "customer": {"property": "company_id"}}, PARIS,
        _files("intercom"), lambda: ref.intercom(PARIS)[1]),
    "intercom": ("support_tickets", {
        "connector": "intercom", "customer": {"property": "company_id"}}, PARIS,
        _files("intercom"), lambda: ref.intercom(PARIS)[0]),
    "zendesk": ("support_tickets", {
        "connector": "zendesk", "customer": {"property": "organization_id"}}, PARIS,
        _files("zendesk"), lambda: ref.zendesk(PARIS)[0]),
}
# one case per contract table runs in the fast tier; the others once, in CI's slow tier
FAST = {"mixpanel", "surveymonkey", "intercom"}
COLUMNS = {"events": ref.EVENT_COLUMNS,
           "survey_responses": ("customer_id", "responded_at", "survey", "score", "comment"),
           "support_tickets": ("customer_id", "created_at", "resolved_at")}


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)


def _write_csv(path: Path, header, rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([_text(v) for v in r] for r in rows)


def _write_events_parquet(path: Path, rows) -> None:
    # naive local times (as the connectors hand them to the staging) as Parquet TIMESTAMPs
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ref.EVENT_COLUMNS)
    kinds = [pa.string(), pa.string(), pa.timestamp("us"), pa.string(), pa.string(),
             pa.float64()]
    pq.write_table(pa.table({name: pa.array(list(values), kind) for name, values, kind in
                             zip(ref.EVENT_COLUMNS, columns, kinds, strict=True)}), path)


def _models_reading(table: str, present: set[str]) -> list[str]:
    """Every model whose rows depend on ``table``'s staged rows and whose inputs are
    ``present``."""
    catalog = load_catalog()
    return [m for m in catalog.model_order() if m in catalog.models
            and f"stg_{table}" in relations_read([m])
            and set(catalog.models[m].inputs) <= present]


def _build(source: Path, settings, models: list[str]) -> dict[str, list[tuple]]:
    con = connect()
    try:
        report = Stager(con, open_source(source), settings).run(needed=relations_read(models))
        built, skipped = build_models(con, settings, report, only=models)
        assert not skipped, skipped
        catalog = load_catalog()
        return {m: con.execute(f'select * from "{m}" order by '
                               f"{export_order(catalog.models[m])}").fetchall()
                for m in models if m in built}
    finally:
        con.close()


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=() if c in FAST else pytest.mark.slow) for c in CASES])
def test_models_from_a_connector_equal_the_contract(case, tmp_path):
    table, mapping, tz, copy_tool, reference = CASES[case]
    expected = reference()
    assert expected  # the fixture gives contract rows at all
    tool, contract = tmp_path / "tool", tmp_path / "contract"
    for root in (tool, contract):
        root.mkdir()
        _write_csv(root / "subscriptions.csv",
                   ["subscription_id", "customer_id", "start_date", "end_date", "mrr"],
                   SUBSCRIPTIONS)
    copy_tool(tool)
    if table == "events":
        _write_events_parquet(contract / "events.parquet", expected)
    else:
        _write_csv(contract / f"{table}.csv", COLUMNS[table], expected)
    if table == "support_tickets":
        # support_load and customer_engagement read the tickets beside the events: the same
        # contract events on both sides
        events, _ = ref.mixpanel(tz)
        for root in (tool, contract):
            _write_events_parquet(root / "events.parquet", events)
    models = _models_reading(table, {"subscriptions", "events", table} if
                             table == "support_tickets" else {"subscriptions", table})
    base = {"as_of": AS_OF, "timezone": tz}
    via = _build(tool, parse_settings({**base, "tables": {table: mapping}}), models)
    direct = _build(contract, parse_settings(base), models)
    assert set(via) == set(direct) == set(models)
    for model in models:
        assert via[model] == direct[model], model
    # the comparison is not between empty models
    assert any(via[m] for m in models)

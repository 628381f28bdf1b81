"""Hotjar: the survey response export -> ``survey_responses`` (docs/connectors.md#hotjar).

The CSV export has one header row: the response's own columns (Number, User, Date
Submitted, Country, Source URL, Device, Browser, OS…), then one column per question headed by
the question's text; an NPS question's answer is 0–10. Every column is read as a respondent
column and as an answer (builders/duckdb/sources.py: ``wide_survey_reader`` with one header
row), so the question is picked by its text like SurveyMonkey's and the customer is any
column (a user attribute such as the account id). The .xlsx download is read into the same
rows.
"""

from __future__ import annotations

from saas_retention.connectors.base import SURVEY_COLUMNS
from saas_retention.connectors.surveys import survey_export

HOTJAR = survey_export(
    "hotjar", "Hotjar", "hotjar_responses", SURVEY_COLUMNS, "Date Submitted", ("Number",),
    "the survey responses export (CSV or XLSX, one column per question)")

"""SurveyMonkey: the response export -> ``survey_responses`` (docs/connectors.md#surveymonkey).

The "All Responses Data" CSV export has two header rows: the question text on the first (a
question answered in several columns names only its first), the answer choice on the second
(``Response`` for a question answered in one column, ``Open-Ended Response`` for text, the
choice for each column of a multiple-choice question); respondent columns — Respondent ID,
Collector ID, Start Date, End Date, IP and e-mail address, names, custom data and custom
variables — have an empty second cell. The response time is End Date (when the respondent
finished), a local date-time as the export writes it; an NPS answer may read
"10 - Extremely likely". The same export as .xlsx, and the API's bulk responses with the
survey details, are read into these rows by builders/duckdb/sources.py
(``wide_survey_reader``), so this query is the same for all three.
"""

from __future__ import annotations

from saas_retention.connectors.base import WIDE_SURVEY
from saas_retention.connectors.surveys import survey_export

SURVEYMONKEY = survey_export(
    "surveymonkey", "SurveyMonkey", "surveymonkey_responses", WIDE_SURVEY, "End Date",
    ("Respondent ID",), "the All Responses Data export (CSV or XLSX, two header rows) or "
    "the API's bulk responses with the survey details (JSON)")

"""Every difference between SQL engines, in one place: each engine's date and time builders,
query settings, NULL ordering, function spellings and whole-query shapes. Every compile path
(``compile_model``, ``saas-retention sql``, ``sql/dist``, both builds) goes through it."""

from saas_retention.dialects.base import (
    CASE_SENSITIVE_FUNCTIONS,
    NAMES_QUALIFIED_COLUMNS,
    QUERY_SETTINGS,
    SUPPORTED,
    TIERS,
    DateFunctions,
    TimeFunctions,
    alias_qualified_columns,
    date_functions,
    engine_spelling,
    lower_case_functions,
    resolve,
    standalone_notes,
    standalone_shape,
    time_functions,
    window_null_ordering,
    with_query_settings,
)

__all__ = [
    "CASE_SENSITIVE_FUNCTIONS",
    "NAMES_QUALIFIED_COLUMNS",
    "QUERY_SETTINGS",
    "SUPPORTED",
    "TIERS",
    "DateFunctions",
    "TimeFunctions",
    "alias_qualified_columns",
    "date_functions",
    "engine_spelling",
    "lower_case_functions",
    "resolve",
    "standalone_notes",
    "standalone_shape",
    "time_functions",
    "window_null_ordering",
    "with_query_settings",
]

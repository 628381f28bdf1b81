"""Errors users see: each names what is wrong and where, never a traceback."""

from __future__ import annotations


class SaasRetentionError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""

    exit_code = 2


class ConfigError(SaasRetentionError):
    """A config file or setting is invalid."""


class SourceError(SaasRetentionError):
    """The source data breaks the input contract."""

    exit_code = 3


class TemplateError(SaasRetentionError):
    """A shipped SQL template or metric definition is invalid (a bug in this package)."""

    exit_code = 4


class Problem:
    """One defect found in a source table: table, column, row count and examples."""

    def __init__(
        self,
        table: str,
        column: str | None,
        count: int,
        message: str,
        examples: list | None = None,
        severity: str = "error",
    ):
        self.table = table
        self.column = column
        self.count = count
        self.message = message
        self.examples = examples or []
        self.severity = severity

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        rows = "row" if self.count == 1 else "rows"
        text = f"{self.severity}: {where}: {self.message} ({self.count} {rows})"
        if self.examples:
            shown = "; ".join(_fmt_example(e) for e in self.examples)
            text += f"\n    e.g. {shown}"
        return text

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"


def _fmt_example(example) -> str:
    if isinstance(example, dict):
        return "{" + ", ".join(f"{k}={v!r}" for k, v in example.items()) + "}"
    return repr(example)


class SourceProblems(SourceError):
    """Every error found while checking a source, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        n = len(problems)
        head = f"the source breaks the input contract ({n} problem{'s' if n != 1 else ''}):"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


# The engines' errors about a value (not about our SQL): DuckDB's conversion, range and input
# errors, and the DB-API DataError every driver raises for them (SQLAlchemy wraps it).
_VALUE_ERRORS = ("ConversionException", "OutOfRangeException", "InvalidInputException",
                 "DataError")


def is_value_error(exc: BaseException) -> bool:
    """Whether the engine refused a value of the data, rather than our SQL (a bug, which
    should stay a traceback)."""
    return any(k.__name__ in _VALUE_ERRORS for k in type(exc).__mro__)


def value_error(tables: list[str], relation: str, exc: BaseException) -> SourceError:
    """An engine's refusal of a value, met while building ``relation`` from ``tables``: the
    contract error the rules did not foresee (every limit they know is checked before the
    engine runs), naming the table (and the column when the engine names it)."""
    import re

    text = str(exc).strip()
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    column = re.search(r"(?:source )?column \"?([A-Za-z_][A-Za-z0-9_]*)\"?", text)
    where = ", ".join(tables) or relation
    if column and len(tables) == 1:
        where = f"{tables[0]}.{column.group(1)}"
    return SourceError(f"{where}: a value of the source cannot be converted while building "
                       f"{relation}; check its values against the input contract's limits "
                       f"(docs/definitions.md#limits)\n  (the engine said: {first[:300]})")

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

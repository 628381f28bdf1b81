"""Regenerate every committed artefact from the definitions: ``python -m saas_retention.generate``.

A test compares the committed copies with what this produces and fails on drift.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def artefacts() -> dict[Path, Callable[[], str]]:
    """Relative path -> function producing its content."""
    from .docs import metrics_text

    return {
        Path("docs/METRICS.md"): lambda: "# Metrics and models\n\n"
        "Generated from `sql/metrics.yml` and `sql/models/*.yml` by "
        "`python -m saas_retention.generate`; do not edit.\n\n"
        + metrics_text(markdown=True)
        + "\n",
    }


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0]) if argv else ROOT
    for rel, produce in artefacts().items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        content = produce()
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Committed generated artefacts equal what ``python -m saas_retention.generate`` produces.

The text of generated SQL depends on sqlglot's formatting, so the comparison runs with the
sqlglot version recorded in ``sql/dist/SQLGLOT_VERSION``: the nox session ``generated``
installs exactly that version; other environments check what they can (the version file) and
skip the rest with the reason.
"""

from __future__ import annotations

import pytest
import sqlglot

from saas_retention.generate import ROOT, SQLGLOT_VERSION_FILE, artefacts

RECORDED = (ROOT / SQLGLOT_VERSION_FILE).read_text().strip()


@pytest.mark.parametrize("rel", sorted(artefacts(), key=str), ids=str)
def test_committed_copy_matches_generator(rel):
    if rel == SQLGLOT_VERSION_FILE:
        assert RECORDED, "sql/dist/SQLGLOT_VERSION is empty"
        return
    if sqlglot.__version__ != RECORDED:
        pytest.skip(f"generated with sqlglot {RECORDED}, this is {sqlglot.__version__} "
                    "(the nox session 'generated' checks it)")
    produced = artefacts()[rel]()
    committed = (ROOT / rel).read_text(encoding="utf-8")
    assert committed == produced, (
        f"{rel} drifted from its definitions; run `python -m saas_retention.generate`")

"""Committed generated artefacts equal what ``python -m saas_retention.generate`` produces."""

from __future__ import annotations

import pytest

from saas_retention.generate import ROOT, artefacts


@pytest.mark.parametrize("rel", sorted(artefacts(), key=str), ids=str)
def test_committed_copy_matches_generator(rel):
    produced = artefacts()[rel]()
    committed = (ROOT / rel).read_text(encoding="utf-8")
    assert committed == produced, (
        f"{rel} drifted from its definitions; run `python -m saas_retention.generate`")

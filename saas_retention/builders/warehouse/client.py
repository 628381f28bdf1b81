"""Models whose middle step runs in the client: SQL in the warehouse, Python here, SQL again.

``cohort_value`` (value.py: the sBG fit) and ``feedback_sentiment`` (sentiment.py: the lexicon
classifier) each describe their three steps as one :class:`ClientStep`; the warehouse build
(run.py) runs every such step the same way:

1. ``fetch``: a query whose rows the client reads;
2. ``compute``: Python turns them into rows of ``relation`` (dicts keyed by ``columns``);
   those rows are written to the relation's building table as bound parameters
   (executemany), never as SQL literals, and the building table is swapped in like every
   other relation;
3. ``query``: the model itself, reading ``relation``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

    from saas_retention.relations.target import Target


@dataclass(frozen=True)
class ClientStep:
    model: str
    relation: str
    columns: tuple[str, ...]
    fetch: Callable[[Target], exp.Query]
    compute: Callable[[Sequence[tuple], Target], list[dict]]
    # the empty relation with its column types: CREATE TABLE <table> …
    create: Callable[[exp.Table], exp.Expression]
    query: Callable[[Target], exp.Query]

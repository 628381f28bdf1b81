"""What the contract rules report, word for word the same from the DuckDB staging
(builders/duckdb/stage.py) and the warehouse checks (builders/warehouse/run.py)."""

from __future__ import annotations

from saas_retention.core.config import Settings
from saas_retention.core.contract import INTERVAL_TO_MONTHLY

# ``{as_of}`` is filled in.
MESSAGES = {
    "zero_length": "zero-length subscriptions (end_date = start_date); kept, they never count "
                   "as paying",
    "future_start": "subscriptions starting after as_of ({as_of}); kept, they count from their "
                    "start once as_of reaches it",
    "unlisted_customer": "customers missing from the customers table; kept, with empty "
                         "dimensions",
    "after_as_of": "rows dated after as_of ({as_of}); left out of every model",
    "unknown_customer": "rows of customers unknown to the customers/subscriptions tables; kept, "
                        "counted under their own id",
    "before_signup": "rows dated before the customer's signup_date; kept",
    # a term lasts billing_interval × this count (relations/terms.py): 0 or less gives no
    # anniversary at all, and a fraction is rounded or truncated depending on the engine
    "interval_count": "values that are not a positive whole number (a term lasts this many "
                      "billing intervals)",
    "unknown_interval": f"unknown billing interval (expected {', '.join(INTERVAL_TO_MONTHLY)})",
}


def message(kind: str, settings: Settings) -> str:
    return MESSAGES[kind].format(as_of=settings.as_of_date)

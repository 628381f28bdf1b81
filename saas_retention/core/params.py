"""The values bound to the templates' ``:parameters``, derived from validated settings; every
compile path (DuckDB build, warehouse build, shipped SQL, Superset metrics) binds these."""

from __future__ import annotations

from saas_retention.core.config import Settings


def model_params(settings: Settings) -> dict[str, object]:
    """Values of the templates' ``:parameters``, all derived from validated settings."""
    return {
        "periods_per_year": settings.periods_per_year,
        "preset": settings.preset,
        "churn_window_preceding": settings.churn_window - 1,
        "gross_margin": settings.gross_margin,
        "months_per_period": 12 / settings.periods_per_year,
        # an annual rate turned into the per-period rate of the grain
        "discount_rate_per_period": (1 + settings.discount_rate) ** (1 / settings.periods_per_year)
        - 1,
        "as_of": settings.as_of_date.isoformat(),
        "activation_event": settings.activation_event or "",
        "session_timeout_seconds": settings.session_timeout_minutes * 60,
        "journey_window_days": settings.journey_window_days,
        "weight_frequency": settings.engagement_weights.frequency,
        "weight_breadth": settings.engagement_weights.breadth,
        "weight_time": settings.engagement_weights.time,
        "weight_support": settings.engagement_weights.support,
        # not :placeholders: the compiler expands sr_period_dimensions() with these columns
        "subscription_dimensions": tuple(settings.mapping("subscriptions").dimensions or ()),
        # and writes these rows in for sr_retention_curves()
        "retention_curves": tuple(
            (c.name, c.start_event, c.return_event, c.kind, int(c.cumulative), c.grain,
             -1 if c.periods is None else c.periods)
            for c in settings.curves),
    }

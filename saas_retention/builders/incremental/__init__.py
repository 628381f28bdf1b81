"""``build --incremental``: what a build records for the next one (``state``) and the refresh
that recomputes only the new days and periods (``refresh``)."""

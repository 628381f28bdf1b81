"""Building inside a warehouse reached by a SQLAlchemy URL: introspect, check, materialise and
swap (``run``); the models with a Python step between two SQL steps (``value``, ``sentiment``)."""

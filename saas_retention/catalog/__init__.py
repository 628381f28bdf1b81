"""The SQL templates and their metadata: loading and validating them (``templates``),
compiling a model for an engine (``compile``) and the metric definitions as text (``docs``)."""

"""Artefacts made from the templates: standalone SQL per engine (``standalone``), the metric
functions as each engine's own functions (``functions``), and the committed copies of every
generated file (``dist``)."""

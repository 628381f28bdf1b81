"""Synthetic SaaS data: the demo's DuckDB source (``demo``) and the streamed Parquet source of
any size the benchmarks use (``synthetic``)."""

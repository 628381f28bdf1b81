"""``saas-retention bench``: a full build against the storage floor and one pass over the raw
events, the metric functions three ways, MRR movements against the dbt playbook pattern and
pandas, and ``build --incremental``; results in ``benchmarks/``."""

"""The single source of truth: metric functions (metrics.yml) and models (models/*.sql + .yml)."""

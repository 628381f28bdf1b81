"""The single source of truth: metric functions (metrics.yml) and models (models/**/*.sql +
.yml, in folders by layer and area: models/README.md)."""

"""Connectors by name, and which one a contract table comes from (``connector_for``).

``billing: stripe`` means `subscriptions` comes from the ``stripe`` connector;
``tables.<contract table>.connector: <name>`` means that table comes from that connector.
"""

from __future__ import annotations

from saas_retention.connectors.base import Connector, ConnectorCheck, SourceTables, ToolTable

# filled by register(); connector modules are imported lazily (config validation needs only the
# names, and the connector modules import the relations layer, which imports the config)
CONNECTORS: dict[str, Connector] = {}
# (name, contract table) -> connector: one tool may produce several contract tables (Intercom:
# support_tickets from its conversations, survey_responses from their ratings)
PRODUCING: dict[tuple[str, str], Connector] = {}
_MODULES: tuple[str, ...] = ("stripe", "ga4", "segment", "mixpanel", "amplitude", "posthog",
                             "intercom", "zendesk", "surveymonkey", "hotjar", "typeform")
_loaded = False


def register(connector: Connector) -> Connector:
    CONNECTORS.setdefault(connector.name, connector)
    PRODUCING[(connector.name, connector.produces)] = connector
    return connector


def produced_by(name: str) -> set[str]:
    """The contract tables connector ``name`` can produce."""
    _load()
    return {table for (n, table) in PRODUCING if n == name}


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in _MODULES:
        importlib.import_module(f"saas_retention.connectors.{module}")


def connectors() -> dict[str, Connector]:
    _load()
    return CONNECTORS


def tool_table_names() -> set[str]:
    """Every tool table any connector (any variant) reads: names ``tables:`` may rename."""
    names: set[str] = set()
    connectors()
    for c in PRODUCING.values():
        for variant in (c, *c.variants.values()):
            names.update(t.name for t in (*variant.tables, *variant.other_tables))
    return names


def connector_for(settings, table: str) -> Connector | None:
    """The connector (resolved to the schema the settings select) that ``table`` comes from,
    or None when the source holds the contract table itself."""
    name = settings.mapping(table).connector
    if name is None and table == "subscriptions":
        name = settings.billing
    if name is None:
        return None
    connectors()
    return PRODUCING.get((name, table), CONNECTORS[name]).resolve(settings)


__all__ = ["CONNECTORS", "PRODUCING", "Connector", "ConnectorCheck", "SourceTables", "ToolTable",
           "connector_for", "connectors", "produced_by", "register", "tool_table_names"]

"""Documentation generated from the definitions (one entry per metric function and model)."""

from __future__ import annotations

from saas_retention.catalog.compile import metric_expression
from saas_retention.catalog.templates import load_catalog


def metrics_text(markdown: bool = False) -> str:
    catalog = load_catalog()
    out: list[str] = []
    for m in catalog.metrics.values():
        signature = f"{m.name}({', '.join(m.args)})"
        sql = metric_expression(m).sql(dialect="duckdb")
        if markdown:
            if not out:
                out.append("## Metric functions\n")
            out.append(f"### {m.label}\n\n`{signature}` — {m.description}\n")
            out.append(f"- SQL: `{sql}`\n- unit: {m.unit}; format `{m.format}`; "
                       f"direction: {m.direction.replace('_', ' ')}")
            if m.caveats:
                out.append(f"- caveats: {m.caveats}")
            if m.benchmark:
                out.append(f"- benchmark: {m.benchmark}")
            out.append("")
        else:
            out.append(f"{m.name} — {m.label}")
            out.append(f"    {signature} = {sql}")
            out.append(f"    {m.description}")
            if m.caveats:
                out.append(f"    caveats: {m.caveats}")
            if m.benchmark:
                out.append(f"    benchmark: {m.benchmark}")
            out.append("")
    out.append("## Models\n" if markdown else "models:")
    for model in catalog.models.values():
        if not markdown:
            out.append(f"  {model.name} ({model.grain}): {model.description}")
            continue
        out.append(f"### {model.name}\n\n{model.description}\n")
        dims = " and the dimensions" if model.key_dimensions else ""
        out.append(f"Grain: {model.grain}; key: {', '.join(model.key)}{dims}.\n")
        out.append("| column | meaning |\n|---|---|")
        out.extend(f"| `{c}` | {text} |" for c, text in model.columns.items())
        out.append("")
    return "\n".join(out)

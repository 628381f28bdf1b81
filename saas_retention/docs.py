"""Documentation generated from the definitions (one entry per metric function and model)."""

from __future__ import annotations

from .compile import metric_expression
from .templates import load_catalog


def metrics_text(markdown: bool = False) -> str:
    catalog = load_catalog()
    out: list[str] = []
    for m in catalog.metrics.values():
        signature = f"{m.name}({', '.join(m.args)})"
        sql = metric_expression(m).sql(dialect="duckdb")
        if markdown:
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
    header = "## Models\n" if markdown else "models:"
    out.append(header)
    for model in catalog.models.values():
        if markdown:
            out.append(f"- **{model.name}** ({model.grain}): {model.description}")
        else:
            out.append(f"  {model.name} ({model.grain}): {model.description}")
    return "\n".join(out)

from grafanalib.core import Dashboard, GridPos, Target, TimeSeries

RATE = "$__rate_interval"


def cache_panel(model: str) -> TimeSeries:
    return TimeSeries(
        title=f"Prefix cache — {model}",
        gridPos=GridPos(h=8, w=12, x=0, y=0),
        targets=[
            Target(
                expr=f'sum(rate(vllm:prompt_tokens_cached_total{{model_name="{model}"}}[{RATE}]))',
                legendFormat="cached",
                refId="A",
            ),
            Target(
                expr=f'sum(rate(vllm:prompt_tokens_cached_total{{model_name="{model}"}}[{RATE}]))',
                legendFormat="cached incl. recomputed",
                refId="B",
            ),
        ],
    )


dashboard = Dashboard(title="vLLM prefix cache", panels=[cache_panel("llama-3-8b")]).auto_panel_ids()

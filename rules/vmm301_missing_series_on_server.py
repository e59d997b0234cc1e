from migrator.model import Severity
from migrator.rule import Rule


class MissingSeriesOnServer(Rule):
    """A metric that a PromQL expression selects has no series on your Prometheus server.

    ## What it does
    Only with `check --prometheus-url URL` (the tool contacts no server otherwise): every metric
    name selected in the scanned files' PromQL (dashboard targets, templating queries, alert and
    recording rules, PromQL in Python strings) is looked up on the server. A name with no current
    series is reported, saying whether it had series within `--lookback` (default 7d: the
    exporter stopped reporting it, typically after an upgrade) or none at all, and naming the
    replacement when the vLLM metric catalogue knows one (`vllm:gpu_cache_usage_perc` →
    `vllm:kv_cache_usage_perc`). References to `vllm:prompt_tokens_recomputed` are reported by
    VMM001 already; the live check adds what the server has to those findings instead.
    Regex name matchers (`{__name__=~"…"}`) are not checked.

    ## Why is this bad?
    A selector without series makes a panel go blank and an alert never fire, silently. A
    vLLM upgrade that removes or renames a metric, a relabelling rule, or a typo all look the
    same from the dashboard; only the server can tell.

    ## Example
    ```promql
    avg(vllm:gpu_cache_usage_perc{model_name="$model"})
    ```
    Use instead (renamed in vLLM 0.9.2, old name gone in 0.12.0):
    ```promql
    avg(vllm:kv_cache_usage_perc{model_name="$model"})
    ```

    ## Fix safety
    No fix: whether a missing series is a problem (a metric from a component not deployed
    here, a recording rule loaded elsewhere) is for a person to decide. Suppress a reference
    with `# vllm-metrics-migrator: ignore[VMM301]` (YAML, Python) or `per-file-ignores`.
    """

    code = "VMM301"
    # Findings come only from a live server (`--prometheus-url`); golden samples cannot show them.
    needs_server = True
    name = "missing-series-on-server"
    severity = Severity.WARNING
    formats_label = "Grafana JSON, rules YAML, Python (with --prometheus-url)"
    # Emitted by the live check (migrator.live), not during the offline lint.

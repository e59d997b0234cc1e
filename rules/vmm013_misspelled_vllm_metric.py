from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import unknown_names
from migrator.rule import Rule


class MisspelledVllmMetric(Rule):
    """A `vllm:` name in PromQL that no vLLM release exposed, but a catalogue name resembles.

    ## What it does
    Looks up every `vllm:`-prefixed metric name selected in PromQL in the vLLM metric catalogue
    (every release from 0.2.0 on). A name no release ever exposed that is a close misspelling or
    a truncation of a real one is reported with "did you mean": `vllm:avg_generation_throughput`
    (a truncation of `vllm:avg_generation_throughput_toks_per_s`), `vllm:prefix_cache_hit_rate`
    (never existed; `vllm:gpu_prefix_cache_hit_rate` did). Names that other programs of the vLLM
    ecosystem publish under `vllm:` (the production-stack router's `vllm:current_qps`, ...) are
    known and never reported; other unknown names are VMM016 (info).

    ## Why is this bad?
    A misspelled selector matches nothing: the panel is blank from the day it was written, and
    nobody can tell it from a metric that is merely idle.

    ## Example
    ```promql
    avg(vllm:avg_generation_throughput{model_name="$model"})
    ```
    Use instead: the counter the removed gauge was computed from,
    `rate(vllm:generation_tokens_total{model_name="$model"}[$__rate_interval])`.

    ## Fix safety
    No fix: the closest name is a guess, and the message lists the candidates with the
    releases that expose them.
    """

    code = "VMM013"
    name = "misspelled-vllm-metric"
    severity = Severity.WARNING
    formats_label = "PromQL anywhere"
    needle_words = ("vllm:",)

    def check(self, ctx):
        for site, ref, prefix, close in unknown_names(ctx):
            if not close:
                continue  # VMM016
            options = ", ".join(f"`{prefix}{s.name.split(':', 1)[1]}` ({_releases(s.metric)})" for s in close)
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"no vLLM release exposed `{ref.written}`; did you mean {options}?",
                fix=Fix(Applicability.DISPLAY_ONLY, f"Use the real name: {options}"),
            )


def _releases(metric):
    last = metric.last_version or "current"
    return f"v{metric.first_version}–{'v' + last if last != 'current' else 'current'}"

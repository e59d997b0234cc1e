from migrator.reference.catalogue import CANONICAL_NAME, REMOVED_METRIC, find_removed_names
from migrator.model import Severity, Span
from migrator.rule import Rule


class RemovedMetricInOtherFile(Rule):
    """Any spelling of `vllm:prompt_tokens_recomputed` in a file that is not JSON, YAML or Python.

    ## What it does
    Scans Markdown, Go, shell, Rust, jsonnet, Terraform, text and any other text file for every
    spelling of the removed counter: `vllm:prompt_tokens_recomputed[_total|_created]`, the
    underscore form `vllm_…`, the Ray re-exports `ray_vllm_…`/`ray_vllm:…`, the OpenTelemetry
    name `vllm.prompt_tokens_recomputed`, and prefixes configured in `metric-prefixes`.
    Look-alikes such as `modelplane_tokens_recomputed_total` do not match.

    ## Why is this bad?
    vLLM v0.20.0 removed the counter (PR #38709) without a deprecation cycle. A query, scraper
    or runbook that names it finds no series on a v0.20+ server.

    ## Example
    ```go
    const recomputed = "vllm:prompt_tokens_recomputed_total"
    ```
    Use instead: delete the constant and its users, or read
    `vllm:prompt_tokens_cached_total` if cached tokens are what the code needs.

    ## Fix safety
    No fix: without a parser for the file's language the tool cannot know what the name
    feeds. Delete the reference or replace it with `vllm:prompt_tokens_cached_total`.
    """

    code = "VMM900"
    name = "removed-metric-in-other-file"
    severity = Severity.WARNING
    formats = frozenset({"text"})
    formats_label = "other text files"
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        for match in find_removed_names(ctx.doc.text, ctx.settings.metric_prefixes):
            if match.prefixed:
                yield ctx.finding(
                    self,
                    Span(match.start, match.end),
                    f"`{match.text}` refers to `{CANONICAL_NAME}`, removed in vLLM "
                    f"v{REMOVED_METRIC.removed_in}: it has no series on a v0.20+ server",
                )

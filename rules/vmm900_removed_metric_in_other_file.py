import re

from migrator.model import Applicability, Fix, Severity, Span
from migrator.name_findings import Coverage, replacement_available, status_words, what_instead, written_as
from migrator.reference.catalogue import ChangeKind, Status, catalogue
from migrator.reference.spellings import find_names
from migrator.rule import Rule

_STALE = {Status.GONE, Status.DEPRECATED, Status.HIDDEN}
# Files that are prose: names in them are reported, never edited.
_PROSE_EXTENSIONS = (".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm")
# A line that registers a metric under the name (Go's client_golang, Java's simpleclient,
# prom-client in TypeScript): renaming it changes what that program exports.
_DEFINES = re.compile(r"\b(?:New(?:Counter|Gauge|Histogram|Summary)(?:Vec)?|Counter|Gauge|Histogram|Summary)\b\s*[({.]|\bName\s*:")


class RemovedMetricInOtherFile(Rule):
    """A vLLM metric that is gone or going, in a file that is not JSON, YAML or Python.

    ## What it does
    Scans Markdown, Go, TypeScript, Java, shell, Rust, jsonnet, Terraform, text and any other
    text file for every spelling (`vllm:`, `vllm_`, `ray_vllm:`/`ray_vllm_`, `vllm.`, prefixes
    configured in `metric-prefixes`, exposition suffixes) of every metric the vLLM metric
    catalogue lists as gone, deprecated or hidden at your target release, and names the
    release and the replacement. Look-alikes (`vllm:request_time_per_output_token_seconds`,
    `dynamo_component_kvstats_gpu_cache_usage_percent`, `vllm.gpu.cache.usage.perc`) do not match.

    ## Why is this bad?
    A query, scraper, constant or runbook that names the metric finds no series on a server
    running the target release.

    ## Example
    ```go
    const kvCacheMetric = "vllm:gpu_cache_usage_perc"
    ```
    Use instead: `const kvCacheMetric = "vllm:kv_cache_usage_perc"`.

    ## Fix safety
    A pure rename (a renamed metric whose replacement exists at the target) inside a quoted
    string literal of a code file is **unsafe**: without a parser for the file's language the
    tool cannot prove what the string feeds, and it cannot re-parse the file before writing.
    A line that defines a metric under the old name (`prometheus.NewGauge(...{Name: ...})`) and
    prose (Markdown, reStructuredText, text) are never edited. Everything else has no fix.
    """

    code = "VMM900"
    name = "removed-metric-in-other-file"
    severity = Severity.WARNING
    fix_availability = "sometimes"
    formats = frozenset({"text"})
    formats_label = "other text files"
    needle_words = ("vllm",)

    def check(self, ctx):
        cat = catalogue()
        target = ctx.settings.target
        text = ctx.doc.text
        prose = ctx.doc.path.lower().endswith(_PROSE_EXTENSIONS)
        # Names inside an embedded document (a heredoc, a code block) are its sites' business;
        # a value there that is no site (KEDA's free-form `metricName`) is no metric either.
        inside = Coverage(list(ctx.doc.embedded))
        for hit in find_names(text, ctx.settings.metric_prefixes):
            if inside(hit.start, hit.end):
                continue
            status = cat.status_of(hit.candidates, target)
            if status is None or status.status not in _STALE:
                continue
            metric = status.series.metric
            change = status.change
            fix = None if prose else _rename_fix(ctx, hit, status, change, target)
            yield ctx.finding(
                self, Span(hit.start, hit.end), f"{written_as(hit.text, metric)} is {status_words(status, target)}{what_instead(change)}",
                fix=fix,
            )


def _rename_fix(ctx, hit, status, change, target):
    if change is None or change.kind is not ChangeKind.RENAMED or not replacement_available(change, target):
        return None
    new = catalogue().renamed_series(status.series, change)
    if new is None or not _inside_string_literal(ctx.doc.text, hit.start, hit.end):
        return None
    line = _line(ctx.doc.text, hit.start)
    if _DEFINES.search(line):
        return Fix(Applicability.DISPLAY_ONLY, "This line defines a metric under vLLM's old name; renaming it "
                   "changes what the program exports — check who reads it first")
    spelled = hit.respelled(new)
    return Fix(
        Applicability.UNSAFE,
        f"Rename to `{spelled}` inside the string (same values; review: the file's language is not parsed)",
        (ctx.doc_edit(hit.start, hit.end, spelled),),
    )


def _line(text, offset):
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    end = len(text)
    for stop in ("\n", "\r"):
        i = text.find(stop, offset)
        if i != -1:
            end = min(end, i)
    return text[start:end]


def _inside_string_literal(text, start, end):
    """The name sits between a matching pair of quotes on its line, with no quote of that kind
    in between (wrappers such as `prometheus.googleapis.com/<name>/gauge` are inside too)."""
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    line = _line(text, start)
    a, b = start - line_start, end - line_start
    for quote in ('"', "'", "`"):
        left = line.rfind(quote, 0, a)
        right = line.find(quote, b)
        if left == -1 or right == -1:
            continue
        if line.count(quote, 0, left) % 2 == 0 and line[left - 1 : left] != "\\":
            return True
    return False

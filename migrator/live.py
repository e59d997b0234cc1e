"""Live check: ask a running Prometheus whether the metrics the scanned files use have series.

Off by default and only ever contacts the URL the user passed (`check --prometheus-url`).
The lint answers "this name was removed from vLLM"; the live check answers the question a user
upgrading actually has: "which of my panels and alerts read series my server does not have?" —
including renamed or long-gone metrics the catalogue knows, and typos it cannot know.

How the server is asked (two cheap calls per batch of names, not one per name):
1. an instant query `group by (__name__) ({__name__=~"a|b|…"})` at "now": which names have a
   current series (staleness-aware, so an exporter that stopped reporting counts as missing);
2. for the names that do not, `/api/v1/label/__name__/values?match[]=…&start=now-lookback`:
   an index-only lookup telling "never seen in the lookback" from "had series until recently"
   (typically: the exporter was upgraded to a vLLM release without the metric).

Findings: a reference to a metric the catalogue lists as gone, deprecated or hidden at the
target is already reported by the lint (VMM001/VMM010/VMM011/VMM012, ...), so its finding only
gains a note saying what the server has; any other missing name becomes a VMM301 finding at the
selector, with the catalogue's replacement when vLLM renamed or removed it.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from migrator.model import Finding, Severity, Span

# The missing-series rule (rules/vmm301_missing_series_on_server.py) owns the code and severity.
CODE = "VMM301"
# Names per request: keeps GET URLs (label values API) far below common 8 KiB limits.
_BATCH = 40
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class LiveCheckError(Exception):
    """The server could not be asked (unreachable, timeout, HTTP or API error, bad option)."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration (`7d`, `12h`, `1h30m`, `90s`, `2w`)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise LiveCheckError(f"invalid duration {text!r} (use e.g. 7d, 12h, 30m)")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(((weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + seconds)


def parse_header(text: str) -> tuple[str, str]:
    """`'Authorization: Bearer x'` → ("Authorization", "Bearer x")."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
        raise LiveCheckError(f"invalid header {text!r} (expected 'Name: value')")
    return name, value.strip()


class PrometheusAPI:
    """A minimal client of the Prometheus HTTP API (stdlib only, explicit timeouts).

    Every failure becomes a LiveCheckError whose message names the URL and the cause, so the
    command line can print one clear line instead of a traceback.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LiveCheckError(f"invalid Prometheus URL {url!r} (expected http(s)://host:port[/path])")
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout

    def _request(self, path: str, params: Sequence[tuple[str, str]], post: bool) -> Any:
        encoded = urllib.parse.urlencode(list(params))
        url = f"{self.url}{path}"
        data = None
        headers = {"Accept": "application/json", **self.headers}
        if post:
            data = encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif encoded:
            url = f"{url}?{encoded}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if post else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - user's URL
                body = response.read()
        except urllib.error.HTTPError as err:
            detail = _api_error(err.read()) or err.reason
            raise LiveCheckError(f"{self.url}: HTTP {err.code} from {path}: {detail}") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise LiveCheckError(f"{self.url}: no answer within {self.timeout:g}s") from None
            raise LiveCheckError(f"{self.url}: cannot reach the server: {err.reason}") from None
        except TimeoutError:
            raise LiveCheckError(f"{self.url}: no answer within {self.timeout:g}s") from None
        except OSError as err:
            raise LiveCheckError(f"{self.url}: {err}") from None
        try:
            payload = json.loads(body)
        except ValueError:
            raise LiveCheckError(f"{self.url}{path}: the answer is not JSON (is this a Prometheus server?)") from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            detail = payload.get("error") if isinstance(payload, dict) else None
            raise LiveCheckError(f"{self.url}{path}: {detail or 'unexpected answer'}")
        return payload.get("data")

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """Instant query; returns the API's `data` ({resultType, result})."""
        params = [("query", expr)]
        if at is not None:
            params.append(("time", _timestamp(at)))
        # POST: long expressions and regexes never hit URL length limits.
        return self._request("/api/v1/query", params, post=True)

    def label_values(self, label: str, matches: Sequence[str], start: float, end: float) -> list[str]:
        params = [("match[]", m) for m in matches] + [("start", _timestamp(start)), ("end", _timestamp(end))]
        data = self._request(f"/api/v1/label/{urllib.parse.quote(label, safe='')}/values", params, post=False)
        return [v for v in data or () if isinstance(v, str)]


def _timestamp(value: float) -> str:
    return f"{value:.3f}"


def _api_error(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload.get("error") if isinstance(payload, dict) else None


def _name_regex(names: Iterable[str]) -> str:
    # Names are checked against the metric-name grammar first, so only `:` could need care;
    # re.escape leaves it alone and RE2 accepts what Python's re.escape produces here.
    return "|".join(re.escape(n) for n in names)


@dataclass(frozen=True)
class Presence:
    """What the server has for the names asked about."""

    current: frozenset[str]  # names with a series now
    recent: frozenset[str]  # names without a current series but with one within the lookback

    def missing(self, name: str) -> bool:
        return name not in self.current


def series_presence(api: PrometheusAPI, names: Iterable[str], lookback: float, now: float | None = None) -> Presence:
    """Ask the server which `names` have series now, and which had some within `lookback`."""
    wanted = sorted({n for n in names if _METRIC_NAME.match(n)})
    now = time.time() if now is None else now
    current: set[str] = set()
    for batch in _batches(wanted):
        data = api.query(f'group by (__name__) ({{__name__=~"{_name_regex(batch)}"}})', at=now)
        for item in data.get("result", ()) if isinstance(data, dict) else ():
            name = item.get("metric", {}).get("__name__")
            if name:
                current.add(name)
    recent: set[str] = set()
    absent_now = [n for n in wanted if n not in current]
    for batch in _batches(absent_now):
        found = api.label_values("__name__", [f'{{__name__=~"{_name_regex(batch)}"}}'], now - lookback, now)
        recent.update(n for n in found if n in batch)
    return Presence(frozenset(current), frozenset(recent))


def _batches(names: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(names), _BATCH):
        yield names[i : i + _BATCH]


# ------------------------------------------------------------------ references in files


@dataclass(frozen=True)
class NameUse:
    """One selector of a metric name at a PromQL site."""

    path: str
    name: str
    span: Span  # of the name in the file
    locator: str


def _selector_names(expr) -> Iterable[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    from migrator.promql import ast

    for node in ast.walk(expr):
        if not isinstance(node, ast.VectorSelector):
            continue
        if node.name is not None and not node.templated and node.name_span is not None:
            start, end = node.name_span  # a quoted name's span is already inside the quotes
            yield node.name, start, end
            continue
        for m in node.matchers:
            if m.label == "__name__" and m.op == "=" and "$" not in m.value and "{{" not in m.value:
                yield m.value, m.value_span[0] + 1, m.value_span[1] - 1


def name_uses(document) -> list[NameUse]:  # type: ignore[no-untyped-def]
    """Metric names selected by the document's PromQL sites (regex name matchers are skipped:
    they select whatever exists, so "missing" has no precise meaning for them)."""
    from migrator.formats.base import SiteKind
    from migrator.promql.parser import PromQLSyntaxError, parse, parse_grafana_query

    uses: list[NameUse] = []
    for site in document.sites:
        if site.kind not in (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY):
            continue
        try:
            if site.kind is SiteKind.GRAFANA_QUERY:
                expr = parse_grafana_query(site.value).expr
            else:
                expr = parse(site.value)
        except (PromQLSyntaxError, RecursionError):
            continue
        if expr is None:
            continue
        for name, start, end in _selector_names(expr):
            if not _METRIC_NAME.match(name):
                continue
            uses.append(NameUse(document.path, name, site.file_span(start, end), site.locator))
    return uses


# ------------------------------------------------------------------ findings


def _is_reported(name: str, prefixes: tuple[str, ...], target) -> bool:  # type: ignore[no-untyped-def]
    """The lint already reports this name as gone, deprecated or hidden at the target."""
    from migrator.reference.catalogue import Status, catalogue
    from migrator.reference.spellings import classify

    hit = classify(name, prefixes)
    if hit is None:
        return False
    status = catalogue().status_of(hit.candidates, target)
    return status is not None and status.status in (Status.GONE, Status.DEPRECATED, Status.HIDDEN)


def _catalogue_hint(name: str, prefixes: tuple[str, ...], target) -> str:  # type: ignore[no-untyped-def]
    """What the vLLM metric catalogue says about a name the server does not have."""
    from migrator.reference.catalogue import ChangeKind, Status, catalogue
    from migrator.reference.spellings import classify

    hit = classify(name, prefixes)
    if hit is None:
        return ""
    status = catalogue().status_of(hit.candidates, target)
    if status is None or status.change is None:
        if status is not None and status.status is Status.NOT_YET:
            return f"; vLLM exposes it from v{status.series.metric.first_version}"
        return ""
    change, metric = status.change, status.series.metric
    gone = f"gone in v{metric.first_release_without}" if metric.first_release_without else "deprecated"
    if change.kind is ChangeKind.RENAMED and change.replacement is not None:
        return (f"; vLLM renamed it to `{change.replacement.name}` (new name v{change.replacement.first_version}, "
                f"old {gone})")
    return f"; vLLM removed it ({gone}): {change.advice}" if change.advice else f"; vLLM removed it ({gone})"


def _presence_note(use: NameUse, presence: Presence, url: str, lookback_text: str) -> str:
    if use.name in presence.current:
        return f"{url} still has series for `{use.name}` (a vLLM older than v0.20 is serving)"
    if use.name in presence.recent:
        return (f"{url} has no current series for `{use.name}` but had some within the last "
                f"{lookback_text} (the exporter stopped reporting it, e.g. after an upgrade)")
    return f"{url} has no series for `{use.name}` in the last {lookback_text}"


def live_check_findings(
    findings_by_file: Mapping[str, Sequence[Finding]],
    url: str,
    headers: Mapping[str, str] | Sequence[str] | None,
    lookback: str | float,
    timeout: float,
    *,
    texts: Mapping[str, str] | None = None,
    settings=None,  # type: ignore[no-untyped-def]
    now: float | None = None,
) -> list[Finding]:
    """Findings from asking the server at `url` about every metric the files' PromQL selects.

    `findings_by_file` maps each file to examine (display path, as in the lint's findings) to
    its lint findings; files without findings belong in it too (with an empty list) to have
    their PromQL checked. `texts` gives a file's text (else it is read from the path).

    Returns new VMM301 findings for missing names, plus, for references to the removed metric
    that the lint already reported, *copies* of those findings (same code and span) whose
    message carries what the server has: `merge_findings` swaps them in. Raises LiveCheckError.
    """
    from migrator.config import Settings
    from migrator.engine import Suppressions, needs_for  # the same reading as the lint
    from migrator.files import decode
    from migrator.formats import detect_format, handler_for
    from migrator.formats.base import ParseError

    settings = settings or Settings()
    if isinstance(headers, Mapping):
        header_map = dict(headers)
    else:
        header_map = dict(parse_header(h) for h in headers or ())
    lookback_text = lookback if isinstance(lookback, str) else f"{lookback:g}s"
    lookback_seconds = parse_duration(lookback) if isinstance(lookback, str) else float(lookback)
    api = PrometheusAPI(url, header_map, timeout)
    prefixes = tuple(settings.metric_prefixes)

    uses: list[NameUse] = []
    recorded: dict[str, str] = {}  # series recorded by rules in the scanned files -> file
    file_texts: dict[str, str] = {}
    documents: dict[str, Any] = {}
    for path in findings_by_file:
        text = (texts or {}).get(path)
        if text is None:
            try:
                with open(path, "rb") as handle:
                    text = decode(handle.read())
            except OSError:
                continue
        if text is None:
            continue
        fmt = detect_format(path, text[:512])
        if fmt == "text":
            continue  # prose: no PromQL sites
        try:
            document = handler_for(fmt).parse(path, text, needs_for(settings, fmt))
        except ParseError:
            continue  # already a VMM000 finding
        file_texts[path] = text
        documents[path] = document
        uses.extend(name_uses(document))
        for rule in document.rules:
            if rule.kind == "record" and rule.name:
                recorded.setdefault(rule.name, path)
    if not uses:
        return []

    presence = series_presence(api, {u.name for u in uses}, lookback_seconds, now)
    out: list[Finding] = []
    vmm301_enabled = settings.rule_enabled(CODE)
    suppressions: dict[str, Any] = {}
    for use in uses:
        if _is_reported(use.name, prefixes, settings.target):
            note = _presence_note(use, presence, url, lookback_text)
            for existing in findings_by_file.get(use.path, ()):
                if existing.span == use.span and "live:" not in existing.message:
                    out.append(replace(existing, message=f"{existing.message} (live: {note})"))
            continue
        if not presence.missing(use.name):
            continue
        if not vmm301_enabled or CODE in settings.ignored_for_path(use.path):
            continue
        text = file_texts[use.path]
        # The document's own scopes: a YAML directive above a rule covers its whole node here too.
        sup = suppressions.get(use.path)
        if sup is None:
            sup = suppressions[use.path] = Suppressions.for_document(documents[use.path])
        from migrator.model import LineIndex

        row = LineIndex(text).position(use.span.start)[0]
        if sup.hides(CODE, row):
            continue
        message = _presence_note(use, presence, url, lookback_text) + _catalogue_hint(use.name, prefixes, settings.target)
        if use.name in recorded:
            message += f"; it is recorded by a rule in {recorded[use.name]}: is that rule loaded on this server?"
        out.append(
            Finding(
                code=CODE,
                message=message,
                path=use.path,
                span=use.span,
                severity=_rule_severity(),
                locator=use.locator,
                matched=use.name,
            )
        )
    return _dedupe(out)


def _rule_severity() -> Severity:
    from migrator.rule import rule_by_code

    rule = rule_by_code(CODE)
    return rule.severity if rule is not None else Severity.WARNING


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, int]] = set()
    unique = []
    for f in findings:
        key = (f.path, f.code, f.span.start, f.span.end)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def merge_findings(existing: Sequence[Finding], live: Sequence[Finding]) -> list[Finding]:
    """`existing` with live copies swapped in (same path, code, span) and new findings added,
    sorted like the engine sorts them."""
    by_key = {(f.path, f.code, f.span.start, f.span.end): f for f in live}
    merged = [by_key.pop((f.path, f.code, f.span.start, f.span.end), f) for f in existing]
    merged.extend(by_key.values())
    merged.sort(key=lambda f: (f.span.start, f.span.end, f.code))
    return merged


def apply_live_check(report, paths: Sequence[str], settings, url: str, headers: Sequence[str],  # type: ignore[no-untyped-def]
                     lookback: str, timeout: float, *, force_exclude: bool = False) -> None:
    """Run the live check over every file the lint discovered under `paths` (not only files
    with findings: a dashboard using only a renamed metric has none) and merge the result into
    `report` (a runner.RunReport) in place. Raises LiveCheckError."""
    import os

    from migrator.files import discover, display_path
    from migrator.model import FileResult

    cwd = os.getcwd()
    results = {r.path: r for r in report.results}
    targets: dict[str, Sequence[Finding]] = {}
    texts: dict[str, str] = {}
    for r in report.results:
        targets[r.path] = r.findings
        text = r.fixed if r.fixed is not None else r.original
        if text is not None:
            texts[r.path] = text
    if list(paths) != ["-"]:
        for path in discover(list(paths), settings, force_exclude=force_exclude):
            # Dashboards and rule files hold PromQL wherever they are; Python files only count
            # when the lint already read them (parsing every module with libcst is too slow).
            if path.lower().endswith((".json", ".yaml", ".yml")):
                targets.setdefault(display_path(path, cwd), ())
    live = live_check_findings(targets, url, headers, lookback, timeout, texts=texts, settings=settings)
    by_path: dict[str, list[Finding]] = {}
    for f in live:
        by_path.setdefault(f.path, []).append(f)
    for path, found in by_path.items():
        result = results.get(path)
        if result is None:
            text = texts.get(path)
            if text is None:
                with open(path, "rb") as handle:
                    text = handle.read().decode("utf-8", errors="replace")
            result = FileResult(path=path, original=text)
            report.results.append(result)
        result.findings = merge_findings(result.findings, found)
    report.results.sort(key=lambda r: r.path)

"""Live check (`check --prometheus-url`): which referenced metrics have no series on a server.

Everything runs on 127.0.0.1 only. The end-to-end test uses a real `prometheus` scraping a
fake vLLM v0.20+ exporter; it skips locally without the binary and FAILS when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from migrator.cli_verify_and_live import live_check_options, run_live_check
from migrator.config import Settings
from migrator.live import (
    LiveCheckError,
    PrometheusAPI,
    live_check_findings,
    parse_duration,
    parse_header,
    series_presence,
)
from migrator.runner import RunOptions, run
from migrator.prometheus_server import PrometheusServer, free_port
from test_verify import rule_file


@click.command()
@click.argument("paths", nargs=-1)
@live_check_options
def check_like(paths, **live) -> None:  # type: ignore[no-untyped-def]
    """What `check` does once the lead wires the live check in."""
    settings = Settings()
    report = run(list(paths), settings, RunOptions())
    run_live_check(report, paths, settings, **live)
    for result in report.results:
        for f in result.findings:
            click.echo(f"{result.path} {f.code} {f.message}")


# ------------------------------------------------------------------------ parsing


def test_durations_and_headers() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2w") == 14 * 86400
    with pytest.raises(LiveCheckError):
        parse_duration("soon")
    assert parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    with pytest.raises(LiveCheckError):
        parse_header("no colon here")


def test_bad_options_are_usage_errors_without_contacting_anything() -> None:
    runner = CliRunner()
    result = runner.invoke(check_like, ["--prometheus-url", "http://127.0.0.1:9", "--lookback", "forever", "."])
    assert result.exit_code == 2 and "invalid duration" in result.output
    result = runner.invoke(check_like, ["--prometheus-url", "http://127.0.0.1:9", "--prometheus-header", "x", "."])
    assert result.exit_code == 2 and "invalid header" in result.output
    with pytest.raises(LiveCheckError, match="invalid Prometheus URL"):
        PrometheusAPI("ftp://example")


def test_off_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the network must not be touched without --prometheus-url")

    monkeypatch.setattr("urllib.request.urlopen", forbidden)
    (tmp_path / "r.yaml").write_text(rule_file("vllm:gpu_cache_usage_perc > 0.9"))
    result = CliRunner().invoke(check_like, [str(tmp_path)])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------- a fake Prometheus API


class FakeAPI:
    """Answers /api/v1/query and /api/v1/label/__name__/values like Prometheus would for a
    server that has `current` series and had `recent` ones within the lookback."""

    def __init__(self, current: set[str], recent: set[str], status: int = 200, delay: float = 0.0) -> None:
        self.current, self.recent, self.status, self.delay = current, recent, status, delay
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

            def _answer(self, params: dict[str, list[str]]) -> None:
                api.requests.append((self.path.split("?")[0], params, dict(self.headers)))
                time.sleep(api.delay)
                if api.status != 200:
                    body = json.dumps({"status": "error", "errorType": "unauthorized", "error": "bad token"})
                    self.send_response(api.status)
                else:
                    import re

                    query = params.get("query", params.get("match[]", [""]))[0]
                    pattern = re.search(r'__name__=~"([^"]*)"', query).group(1)
                    names = pattern.split("|")
                    if self.path.startswith("/api/v1/query"):
                        data = {"resultType": "vector", "result": [
                            {"metric": {"__name__": n}, "value": [0, "1"]} for n in names if n in api.current]}
                    else:
                        data = [n for n in names if n in api.current | api.recent]
                    body = json.dumps({"status": "success", "data": data})
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(body.encode())
                except OSError:
                    pass

            def do_GET(self) -> None:
                self._answer(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._answer(urllib.parse.parse_qs(self.rfile.read(length).decode()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_api():  # type: ignore[no-untyped-def]
    servers: list[FakeAPI] = []

    def make(**kwargs) -> FakeAPI:  # type: ignore[no-untyped-def]
        server = FakeAPI(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_presence_tells_current_recent_and_never(fake_api) -> None:  # type: ignore[no-untyped-def]
    server = fake_api(current={"vllm:prompt_tokens_total"}, recent={"vllm:gpu_cache_usage_perc"})
    api = PrometheusAPI(server.url, {"Authorization": "Bearer t"}, timeout=5)
    presence = series_presence(api, ["vllm:prompt_tokens_total", "vllm:gpu_cache_usage_perc", "typo_metric"], 7 * 86400)
    assert presence.current == {"vllm:prompt_tokens_total"}
    assert presence.recent == {"vllm:gpu_cache_usage_perc"}
    assert all(headers.get("Authorization") == "Bearer t" for _, _, headers in server.requests)
    # One instant query for all names, one index lookup for the absent ones.
    assert [path for path, _, _ in server.requests] == ["/api/v1/query", "/api/v1/label/__name__/values"]


def test_findings_for_missing_names(fake_api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    server = fake_api(current={"vllm:prompt_tokens_total"}, recent={"vllm:gpu_cache_usage_perc"})
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text(rule_file(
        "avg(vllm:gpu_cache_usage_perc) > 0.9 and on() sum(rate(vllm:prompt_tokens_total[5m])) > 0 "
        "unless on() sum(rate(vllm:prompt_tokens_recomputed_total[5m])) > 0 or on() vllm:num_requests_swaped > 1"))
    Path("ok.yaml").write_text(rule_file("sum(rate(vllm:prompt_tokens_total[5m])) > 0"))
    Path("rec.yaml").write_text(
        "groups:\n  - name: r\n    rules:\n      - record: job:prompt_tokens:rate5m\n"
        "        expr: sum(rate(vllm:prompt_tokens_total[5m]))\n      - alert: Idle\n"
        "        expr: job:prompt_tokens:rate5m == 0\n")
    result = CliRunner().invoke(check_like, [".", "--prometheus-url", server.url, "--lookback", "3d"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (recorded,) = [line for line in lines if line.startswith("rec.yaml ")]
    assert "VMM301" in recorded and "recorded by a rule in rec.yaml: is that rule loaded" in recorded
    vmm301 = [line for line in lines if " VMM301 " in line and line.startswith("a.yaml")]
    assert len(vmm301) == 1, result.output
    assert "no series for `vllm:num_requests_swaped` in the last 3d" in vmm301[0]
    # A renamed metric is a lint finding (VMM010) already; the server's answer is added to it.
    (renamed,) = [line for line in lines if " VMM010 " in line]
    assert "renamed `vllm:kv_cache_usage_perc`" in renamed
    assert "`vllm:gpu_cache_usage_perc` but had some within the last 3d" in renamed
    removed = [line for line in lines if " VMM001 " in line]
    assert removed and all(f"(live: {server.url} has no series for `vllm:prompt_tokens_recomputed_total`" in line
                           for line in removed)
    assert not any(line.startswith("ok.yaml") for line in lines)


def test_suppressed_and_ignored_references_stay_quiet(fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = fake_api(current=set(), recent=set())
    path = tmp_path / "a.yaml"
    path.write_text(rule_file("router:queue_depth > 10  # vllm-metrics-migrator: ignore[VMM301]"))
    assert live_check_findings({str(path): []}, server.url, [], "7d", 5) == []
    path.write_text(rule_file("router:queue_depth > 10"))
    assert live_check_findings({str(path): []}, server.url, [], "7d", 5, settings=Settings(ignore=("VMM301",))) == []
    (found,) = live_check_findings({str(path): []}, server.url, [], "7d", 5)
    assert found.code == "VMM301" and found.matched == "router:queue_depth"
    assert path.read_text()[found.span.start : found.span.end] == "router:queue_depth"


def test_a_yaml_directive_above_a_rule_covers_its_expr_for_the_live_check_too(fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = fake_api(current=set(), recent=set())
    path = tmp_path / "a.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      # vllm-metrics-migrator: ignore[VMM301]\n"
        "      - alert: Deep\n        expr: |\n          router:queue_depth\n            > 10\n"
    )
    assert live_check_findings({str(path): []}, server.url, [], "7d", 5) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"status": 401}, "HTTP 401 from /api/v1/query: bad token"), ({"delay": 2.0}, "no answer within 0.5s")],
)
def test_server_errors_are_clear_and_exit_2(fake_api, tmp_path: Path, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    server = fake_api(current=set(), recent=set(), **kwargs)
    (tmp_path / "a.yaml").write_text(rule_file("vllm:gpu_cache_usage_perc > 0.9"))
    result = CliRunner().invoke(check_like, [str(tmp_path), "--prometheus-url", server.url, "--prometheus-timeout", "0.5"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_unreachable_server_exits_2(tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text(rule_file("vllm:gpu_cache_usage_perc > 0.9"))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(check_like, [str(tmp_path), "--prometheus-url", url])
    assert result.exit_code == 2
    assert "error: live check:" in result.output and "cannot reach the server" in result.output


# ------------------------------------------------------- end to end, real Prometheus


def _prometheus_binary() -> str:
    path = os.environ.get("VMM_PROMETHEUS") or shutil.which("prometheus")
    if not path:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but `prometheus` is missing (Debian package `prometheus`)")
        pytest.skip("`prometheus` not installed (Debian package `prometheus`)")
    return path


def _fake_vllm_exporter():  # type: ignore[no-untyped-def]
    """A v0.20+ engine's prompt-token counters, live in a prometheus_client registry.

    Always served in the classic text format (0.0.4): prometheus_client >= 0.2x answers
    Prometheus' OpenMetrics Accept header with escaped names (`vllm_prompt_tokens_total`),
    which is not what the metric names in dashboards refer to.
    """
    from prometheus_client import CollectorRegistry, Counter, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    from migrator.reference.catalogue import SURVIVING_PROMPT_METRICS
    from migrator.reference.simulate import counter_samples, standard_workloads

    registry = CollectorRegistry()
    counters = {d.name: Counter(d.name, d.help, list(d.labels), registry=registry) for d in SURVIVING_PROMPT_METRICS}
    for sample in counter_samples("c", standard_workloads()):
        counters[sample.name.removesuffix("_total")].labels(**sample.labels).inc(sample.value)

    class Exporter(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, server.server_address[1]


def test_live_check_against_a_real_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    binary = _prometheus_binary()
    exporter, thread, port = _fake_vllm_exporter()
    config = (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: vllm\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    (tmp_path / "tsdb").mkdir()
    prometheus = PrometheusServer(binary, tmp_path / "tsdb", tmp_path, "prometheus", config)
    try:
        url = prometheus.start()
        api = PrometheusAPI(url, timeout=5)
        deadline = time.monotonic() + 30
        while not api.query('count({__name__="vllm:prompt_tokens_total"})')["result"]:
            assert time.monotonic() < deadline, f"no series scraped within 30s: {prometheus.log_tail()}"
            time.sleep(0.2)

        files = tmp_path / "files"
        files.mkdir()
        (files / "legacy.yaml").write_text(rule_file(
            "sum(rate(vllm:prompt_tokens_cached_total[5m])) + sum(rate(vllm:prompt_tokens_recomputed_total[5m])) > 0"
            " or on() avg(vllm:gpu_cache_usage_perc) > 0.9"))
        (files / "current.yaml").write_text(rule_file(
            "sum(rate(vllm:prompt_tokens_cached_total[5m])) / sum(rate(vllm:prompt_tokens_total[5m])) < 0.1"
            ' and on() sum(vllm:prompt_tokens_by_source_total{source="local_compute"}) >= 0'))
        monkeypatch.chdir(files)
        result = CliRunner().invoke(check_like, [".", "--prometheus-url", url, "--lookback", "1h"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        removed = [line for line in lines if " VMM001 " in line]
        assert removed and all(f"has no series for `vllm:prompt_tokens_recomputed_total` in the last 1h" in line
                               for line in removed), result.output
        # The renamed metric is a lint finding; the server confirms it has no series.
        (renamed,) = [line for line in lines if " VMM010 " in line]
        assert renamed.startswith("legacy.yaml ") and "`vllm:kv_cache_usage_perc`" in renamed
        assert "has no series for `vllm:gpu_cache_usage_perc`" in renamed
        assert not [line for line in lines if " VMM301 " in line], result.output
        assert not [line for line in lines if line.startswith("current.yaml")], result.output
    finally:
        prometheus.stop()
        exporter.shutdown()
        exporter.server_close()
        thread.join(timeout=5)

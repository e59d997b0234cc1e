"""A short-lived `prometheus` server on 127.0.0.1 (the live check's end-to-end test runs one)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Sequence

STARTUP_TIMEOUT_S = 30.0


class ServerError(Exception):
    """The server could not be started; the message has the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    """A `prometheus` process on 127.0.0.1 with its own config and storage; always stopped by
    `stop()` / the context manager, whatever happened."""

    def __init__(self, binary: str, storage: Path, workdir: Path, name: str, config: str = "global: {}\n",
                 extra_args: Sequence[str] = ()) -> None:
        self.binary = binary
        self.storage = storage
        self.workdir = workdir
        self.name = name
        self.config = config
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = workdir / f"{name}.log"

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> str:
        config_path = self.workdir / f"{self.name}.yml"
        config_path.write_text(self.config, encoding="utf-8")
        for _attempt in range(3):
            port = free_port()
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={config_path}",
                        f"--storage.tsdb.path={self.storage}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--storage.tsdb.retention.time=100y",
                        *(() if any(a.startswith("--log.level") for a in self.extra_args) else ("--log.level=warn",)),
                        *self.extra_args,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready(timeout):
                return self.url
            log_text = self.log_tail()
            code = self.process.poll() if self.process is not None else None
            self.stop()
            if "address already in use" not in log_text:
                what = f"exited with code {code}" if code is not None else f"did not become ready within {timeout:g}s"
                raise ServerError(f"prometheus ({self.name}) {what}: {log_text}")
        raise ServerError(f"prometheus ({self.name}) could not bind a free port on 127.0.0.1")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> "PrometheusServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

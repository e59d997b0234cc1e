"""Benchmark corpora, generated from the bundled `samples/` by copying and varying them.

Every corpus is deterministic for a given seed, written outside the repository (the tool honours
`.gitignore`, and the repository ignores `bench/out/`), and reused by later runs while its
manifest (sizes, seed and a hash of this generator and of the samples) is unchanged.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# The removed metric's name: what a user would grep for, and the needle of most rules.
REMOVED_NEEDLE = "prompt_tokens_recomputed"

# Rewrites that turn a sample into a file with nothing for the tool to find, not even the
# anchors its prefilter scans for: most files of a large repository never mention vLLM, so
# the no-hit tree speaks of another serving engine (`tgi:`). Longer spellings first.
_NEUTRALISE = (
    ("vllm", "tgi"),
    ("vLLM", "TGI"),
    ("VLLM", "TGI"),
    ("Vllm", "Tgi"),
    ("update_from_output", "update_from_step"),
    ("prompt_tokens_by_source", "generation_tokens"),
    ("num_cached_tokens", "num_prefill_tokens"),
    ("prompt_tokens", "input_tokens"),
    ("cached_tokens", "reused_tokens"),
    ("recomputed", "preempted"),
    ("Recomputed", "Preempted"),
    ("RECOMPUTED", "PREEMPTED"),
    ("recompute", "preempt"),
    ("Recompute", "Preempt"),
    ("recomput", "preempt"),
    ("Recomput", "Preempt"),
    ("RECOMPUT", "PREEMPT"),
)
# What no file of the no-hit tree may contain, besides the anchors the run asks of the tool.
FORBIDDEN_IN_NO_HIT = ("vllm", "recomput", "Recomput", "prompt_tokens", "cached_tokens")


@dataclass(frozen=True)
class Corpus:
    root: Path
    files: int
    bytes: int

    @property
    def megabytes(self) -> float:
        return self.bytes / 1e6


# ---------------------------------------------------------------------------------------------
# Sample pools


def _inputs(pattern: str) -> list[Path]:
    return sorted(SAMPLES.glob(f"*/*/{pattern}"))


def _has_findings(path: Path) -> bool:
    """A golden case that is neither a no-op twin nor a deliberately broken file."""
    return not path.parent.name.startswith("noop-") and path.parent.parent.name != "VMM000"


def _neutralise(text: str) -> str:
    for old, new in _NEUTRALISE:
        text = text.replace(old, new)
    return text


_WINDOW = re.compile(r"\[(\d+)([smhd])\]")


def _vary_windows(text: str, rng: random.Random) -> str:
    """Every range window (`[5m]`) gets a length of its own. Copies of a few dozen sample
    queries would otherwise repeat verbatim thousands of times and every per-expression cache
    of the tool would hit: a real repository's queries are mostly distinct."""
    return _WINDOW.sub(lambda m: f"[{rng.randint(2, 240)}m]", text)


class _Dashboards:
    """Dashboard shells (everything but the panels) and a pool of panels from the JSON samples."""

    def __init__(self, with_findings: bool) -> None:
        self.shells: list[dict] = []
        self.panels: list[dict] = []
        for path in _inputs("input.json"):
            if path.parent.parent.name == "VMM000" or (with_findings and not _has_findings(path)):
                continue
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text if with_findings else _neutralise(text))
            doc = doc.get("dashboard", doc)
            panels = doc.pop("panels", [])
            for row in doc.pop("rows", []):  # legacy schema: panels live in rows
                panels.extend(row.get("panels", []))
            self.panels.extend(panels)
            if "templating" in doc:
                self.shells.append(doc)

    def build(self, rng: random.Random, index: int, panels: int) -> str:
        doc = copy.deepcopy(self.shells[index % len(self.shells)])
        doc["uid"] = f"vllm-{index:05d}-{rng.randrange(16**6):06x}"
        doc["title"] = f"{doc.get('title', 'vLLM')} / fleet {index}"
        doc["version"] = rng.randint(1, 90)
        doc["panels"] = [self._panel(rng, n, panels) for n in range(panels)]
        if index % 10 == 3:  # as exported by Grafana's HTTP API
            doc = {"dashboard": doc, "meta": {"slug": f"vllm-{index}", "folderTitle": "Inference", "version": doc["version"]}}
        text = _vary_windows(json.dumps(doc, indent=2 if index % 4 else 4) + "\n", rng)
        if index % 5 == 1:  # Grafana's Go encoder escapes HTML characters inside strings
            text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        if index % 10 == 7:
            text = text.replace("\n", "\r\n")
        return text

    def _panel(self, rng: random.Random, n: int, total: int) -> dict:
        panel = copy.deepcopy(rng.choice(self.panels))
        panel["id"] = n + 1
        panel["title"] = f"{panel.get('title', 'Panel')} #{n + 1}"
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)}
        for k, child in enumerate(panel.get("panels", [])):  # a collapsed row's panels
            child["id"] = total + n * 100 + k + 1
        return panel


def _strip_docstring(text: str) -> tuple[str, str]:
    """(docstring line, rest) of a sample module, without `from __future__` imports."""
    doc = ""
    if text.startswith('"""'):
        end = text.index('"""', 3) + 3
        doc, text = text[3 : end - 3].strip(), text[end:]
    text = re.sub(r"^from __future__ import [^\n]*\n", "", text, flags=re.M)
    return doc, text.strip("\n")


class _PythonModules:
    def __init__(self, with_findings: bool) -> None:
        self.bodies: list[tuple[str, str]] = []
        for path in _inputs("input.py"):
            if path.parent.parent.name == "VMM000" or (with_findings and not _has_findings(path)):
                continue
            text = path.read_text(encoding="utf-8")
            self.bodies.append(_strip_docstring(text if with_findings else _neutralise(text)))

    def build(self, rng: random.Random, index: int, parts: int) -> str:
        chosen = rng.sample(self.bodies, min(parts, len(self.bodies)))
        docs = " ".join(doc for doc, _ in chosen)
        body = "\n\n\n".join(f"# --- part {k} of service {index}\n{b}" for k, (_, b) in enumerate(chosen))
        text = _vary_windows(f'"""Service {index}: {docs}"""\n\nfrom __future__ import annotations\n\n{body}\n', rng)
        compile(text, f"module{index}.py", "exec")  # a corpus of broken modules would measure VMM000
        return text


class _RuleFiles:
    """Rule groups cut from the plain `groups:` samples, and whole samples of the other shapes."""

    _WHOLE = ("VMM001/prometheusrule-block-scalar", "VMM001/configmap-embedded-rules", "VMM001/grafana-unified-alerting")

    def __init__(self, with_findings: bool) -> None:
        self.groups: list[str] = []
        self.whole: list[str] = []
        for path in _inputs("input.yaml"):
            case = f"{path.parent.parent.name}/{path.parent.name}"
            if path.parent.parent.name == "VMM000" or (with_findings and not _has_findings(path)):
                continue
            text = path.read_text(encoding="utf-8")
            text = text if with_findings else _neutralise(text)
            if case in self._WHOLE:
                self.whole.append(text)
            elif text.startswith("groups:\n  - name: "):
                # Each group starts at "  - name:"; the file is a list of them.
                self.groups.extend("  - name: " + g.rstrip("\n") + "\n" for g in text[len("groups:\n  - name: ") :].split("\n  - name: "))

    def build(self, rng: random.Random, index: int, groups: int) -> str:
        return _vary_windows(self._text(rng, index, groups), rng)

    def _text(self, rng: random.Random, index: int, groups: int) -> str:
        if self.whole and index % 8 == 5:
            return f"# vLLM rules for cluster {index}\n" + self.whole[index % len(self.whole)].replace("vllm", f"vllm-c{index}", 1)
        chosen = [rng.choice(self.groups) for _ in range(groups)]
        blocks = "".join(re.sub(r"^  - name: (\S+)", rf"  - name: \1-{index}-{k}", g, count=1) for k, g in enumerate(chosen))
        if index % 5 == 2:  # a prometheus-operator PrometheusRule: the same groups, two spaces deeper
            indented = "".join("  " + line if line.strip() else line for line in blocks.splitlines(keepends=True))
            return (
                "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n"
                f"  name: vllm-rules-{index}\n  namespace: inference\nspec:\n  groups:\n{indented}"
            )
        return f"# Alerts and recording rules for vLLM fleet {index}.\ngroups:\n{blocks}"


def _other_texts(suffix: str) -> list[str]:
    return [_neutralise(p.read_text(encoding="utf-8")) for p in _inputs(f"input{suffix}")]


# ---------------------------------------------------------------------------------------------
# Corpora


def _write(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def _generator_hash() -> str:
    # zlib rather than hashlib: OpenSSL would add 4 MB to the harness's RSS (see `_in_child`).
    digest = zlib.crc32(Path(__file__).read_bytes())
    for path in sorted(SAMPLES.rglob("input.*")):
        digest = zlib.crc32(path.read_bytes(), digest)
    return f"{digest:08x}"


# Once, at import: the code that runs is the code that was hashed, even if the file is edited
# during a run.
_GENERATOR = _generator_hash()


def load_cached(root: Path, params: dict, build) -> Corpus:  # type: ignore[no-untyped-def]
    """The corpus at `root` if this generator built it with `params`, else a fresh one.

    The manifest lives beside the tree, not in it: neither the tool nor a baseline may see it."""
    manifest = root.with_name(root.name + ".manifest.json")
    key = {"params": params, "generator": _GENERATOR}
    if manifest.exists() and root.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("key") == key:
            return Corpus(root, saved["files"], saved["bytes"])
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    files, size = _in_child(build, root)
    manifest.write_text(json.dumps({"key": key, "files": files, "bytes": size}))
    return Corpus(root, files, size)


def _in_child(build, root: Path) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """`build(root)` in a forked child. A process the harness starts begins as a copy of the
    harness, so its peak RSS can never read below the harness's RSS: building a 54 MB dashboard
    here would inflate every later measurement."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(build(root)).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"generating {root} failed (traceback above)")
    files, size = json.loads(data)
    return files, size


def _folder(root: Path, index: int) -> Path:
    """A repository-like layout: a few dozen teams, each with a handful of services."""
    return root / f"team{index % 37:02d}" / f"service{index % 11}"


def no_hit_tree(root: Path, files: int, seed: int, anchors: tuple[str, ...]) -> Corpus:
    """`files` files of mixed formats that watch vLLM but hold none of the removed metrics, nor
    any of `anchors` (so the tool's prefilter and grep both read every byte)."""
    forbidden = tuple(sorted({*FORBIDDEN_IN_NO_HIT, *anchors}))

    def build(root: Path) -> tuple[int, int]:
        rng = random.Random(seed)
        dashboards, modules, rules = _Dashboards(False), _PythonModules(False), _RuleFiles(False)
        markdown, go = _other_texts(".md"), _other_texts(".go")
        makers = (
            (".json", lambda i: dashboards.build(rng, i, 1 + (rng.random() < 0.3))),
            (".yaml", lambda i: rules.build(rng, i, rng.randint(1, 3))),
            (".py", lambda i: modules.build(rng, i, rng.randint(1, 2))),
            (".md", lambda i: f"# Service {i}\n\n" + "\n".join(rng.sample(markdown, rng.randint(1, 2)))),
            (".go", lambda i: go[i % len(go)].replace("package collector", f"package collector{i}")),
        )
        size = 0
        for i in range(files):
            suffix, make = makers[i % len(makers)]
            text = _neutralise(make(i))  # the shells name vLLM in uids and titles too
            bad = [n for n in forbidden if n in text]
            if bad:
                raise AssertionError(f"no-hit file {i}{suffix} contains {bad}: extend _NEUTRALISE")
            size += _write(_folder(root, i) / f"file{i}{suffix}", text)
        return files, size

    return load_cached(root, {"files": files, "seed": seed, "forbidden": forbidden}, build)


def dashboards(root: Path, count: int, panels: tuple[int, int], seed: int) -> Corpus:
    """Hit-heavy Grafana dashboards: every panel comes from a sample, most with findings."""

    def build(root: Path) -> tuple[int, int]:
        rng, pool = random.Random(seed), _Dashboards(True)
        size = sum(_write(_folder(root, i) / f"vllm-{i}.json", pool.build(rng, i, rng.randint(*panels))) for i in range(count))
        return count, size

    return load_cached(root, {"count": count, "panels": panels, "seed": seed}, build)


def big_dashboard(root: Path, megabytes: float, seed: int) -> Corpus:
    """One dashboard of about `megabytes` MB (10^6 bytes), in a folder of its own."""

    def build(root: Path) -> tuple[int, int]:
        pool, panels = _Dashboards(True), 200
        for _ in range(3):  # panels differ in size: correct the count until the size is near
            text = pool.build(random.Random(seed), 0, panels)
            panels = max(1, round(panels * megabytes * 1e6 / len(text)))
        return 1, _write(root / "huge.json", text)

    return load_cached(root, {"megabytes": megabytes, "seed": seed}, build)


def python_modules(root: Path, count: int, seed: int) -> Corpus:
    """Python modules, each stitched from two to four sample modules with findings."""

    def build(root: Path) -> tuple[int, int]:
        rng, pool = random.Random(seed), _PythonModules(True)
        size = sum(_write(_folder(root, i) / f"module{i}.py", pool.build(rng, i, rng.randint(2, 4))) for i in range(count))
        return count, size

    return load_cached(root, {"count": count, "seed": seed}, build)


def rule_files(root: Path, count: int, seed: int) -> Corpus:
    """Prometheus rule files (plain, PrometheusRule, ConfigMap-embedded, Grafana alerting)."""

    def build(root: Path) -> tuple[int, int]:
        rng, pool = random.Random(seed), _RuleFiles(True)
        size = sum(_write(_folder(root, i) / f"rules{i}.yaml", pool.build(rng, i, rng.randint(3, 8))) for i in range(count))
        return count, size

    return load_cached(root, {"count": count, "seed": seed}, build)


def precommit_files(root: Path, sources: list[Path]) -> list[str]:
    """Copies of `sources` in one folder, as pre-commit would pass them: relative paths."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    names = []
    for k, source in enumerate(sources):
        name = f"staged{k}{source.suffix}"
        shutil.copyfile(source, root / name)
        names.append(name)
    return names


def first_files(corpus: Corpus, count: int) -> list[Path]:
    return sorted(p for p in corpus.root.rglob("*") if p.is_file())[:count]

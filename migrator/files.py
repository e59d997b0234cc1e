"""File discovery and safe writing: the only module that touches the file system for content."""

from __future__ import annotations

import operator
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from migrator.config import Settings

BINARY_SNIFF = 8192


class WriteRefused(Exception):
    pass


_SIMPLE_NAME = frozenset("*?[]!/\\")


class _Excludes:
    """Exclude patterns: plain folder/file names are a set lookup; only real globs pay for
    pathspec (whose import alone costs more than checking a small repository)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.names = frozenset(p.rstrip("/") for p in patterns if not (_SIMPLE_NAME & set(p.rstrip("/"))))
        globs = [p for p in patterns if p.rstrip("/") not in self.names]
        self.spec = _gitwildmatch(globs) if globs else None

    def match(self, name: str, rel: str, is_dir: bool) -> bool:
        if name in self.names:
            return True
        if self.spec is None:
            return False
        suffix = "/" if is_dir else ""
        return self.spec.match_file(name + suffix) or self.spec.match_file(rel + suffix)


def _gitwildmatch(lines: list[str]):  # type: ignore[no-untyped-def]
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


class _GitIgnores:
    """`.gitignore` files met while walking, each applied to paths below its folder."""

    def __init__(self) -> None:
        self._specs: dict[str, object] = {}

    def spec_for(self, folder: str):  # type: ignore[no-untyped-def]
        if folder not in self._specs:
            spec = None
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as handle:
                    lines = handle.read().splitlines()
                spec = _gitwildmatch(lines) if any(l.strip() and not l.startswith("#") for l in lines) else None
            except (OSError, ValueError):
                spec = None
            self._specs[folder] = spec
        return self._specs[folder]

    def ignored(self, path: str, is_dir: bool, chain: tuple[str, ...]) -> bool:
        for folder in chain:
            spec = self.spec_for(folder)
            if spec is None:
                continue
            rel = os.path.relpath(path, folder).replace(os.sep, "/") + ("/" if is_dir else "")
            if spec.match_file(rel):
                return True
        return False


def git_root(start: str) -> str | None:
    """The git work tree containing `start`, if any."""
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _gitignore_chain(folder: str) -> tuple[str, ...]:
    """Folders from the repository root down to `folder` that hold a .gitignore."""
    root = git_root(folder)
    chain = [folder]
    if root is not None:
        while chain[-1] != root and os.path.dirname(chain[-1]) != chain[-1]:
            chain.append(os.path.dirname(chain[-1]))
    return tuple(f for f in reversed(chain) if os.path.isfile(os.path.join(f, ".gitignore")))


def display_path(path: str, cwd: str) -> str:
    """How a path is shown: relative to the working folder when below it, else absolute."""
    prefix = cwd.rstrip(os.sep) + os.sep
    return path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else path


_entry_name = operator.attrgetter("name")


def discover(paths: list[str], settings: Settings, *, force_exclude: bool = False) -> Iterator[str]:
    """Yield the absolute path of every file to check.

    Paths given explicitly are always checked unless `force_exclude` (pre-commit passes staged
    files by name, so excludes must apply to them too). Symlinks are never followed.
    """
    cwd = os.getcwd()
    root = str(settings.root)
    excludes = _Excludes((*settings.exclude, *settings.extend_exclude))
    gitignores = _GitIgnores()
    use_gitignore = settings.respect_gitignore
    seen: set[str] = set()

    def rel_to_root(path: str) -> str:
        rel = os.path.relpath(path, root)
        return rel.replace(os.sep, "/") if not rel.startswith("..") else path

    for raw in paths:
        absolute = os.path.normpath(os.path.join(cwd, raw))
        if os.path.islink(absolute):
            continue
        if os.path.isfile(absolute):
            if force_exclude and (
                excludes.match(os.path.basename(absolute), rel_to_root(absolute), False)
                or any(excludes.match(part, part, True) for part in rel_to_root(absolute).split("/")[:-1])
                or (use_gitignore and gitignores.ignored(absolute, False, _gitignore_chain(os.path.dirname(absolute))))
            ):
                continue
            if absolute not in seen:
                seen.add(absolute)
                yield absolute
            continue
        if not os.path.isdir(absolute):
            raise FileNotFoundError(raw)
        base_chain = _gitignore_chain(absolute) if use_gitignore else ()
        stack: list[tuple[str, tuple[str, ...]]] = [(absolute, base_chain)]
        while stack:
            folder, chain = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=_entry_name, reverse=True)
            except OSError:
                continue
            if use_gitignore and folder not in chain and any(e.name == ".gitignore" for e in entries):
                chain = (*chain, folder)
            excluded_names, spec = excludes.names, excludes.spec
            for entry in entries:
                # Without following links a symlink is neither a file nor a folder: never walked.
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir and not entry.is_file(follow_symlinks=False):
                    continue
                name, path = entry.name, entry.path
                if name in excluded_names or (spec is not None and excludes.match(name, rel_to_root(path), is_dir)):
                    continue
                if chain and gitignores.ignored(path, is_dir, chain):
                    continue
                if is_dir:
                    stack.append((path, chain))
                elif path not in seen:
                    seen.add(path)
                    yield path


_CHUNK = 1 << 16
_buffer = bytearray(_CHUNK)


def read_if_contains(path: str, anchors: tuple[bytes, ...], needles: tuple[bytes, ...] | None = None) -> bytes | None:
    """The file's bytes if it contains any needle, else None.

    The hot path of a run: most files hold no reference, so they are read into one reused
    buffer with raw syscalls and never decoded. `anchors` are substrings shared by the needles
    (one scan each); only a file that contains an anchor is checked for the needles themselves.
    Raises OSError like open().
    """
    needles = needles or anchors
    fd = os.open(path, os.O_RDONLY)
    try:
        n = os.readv(fd, [_buffer])
        if n < _CHUNK:
            find = _buffer.find
            for anchor in anchors:
                if find(anchor, 0, n) != -1:
                    break
            else:
                return None
            for needle in needles:
                if find(needle, 0, n) != -1:
                    return bytes(_buffer[:n])
            return None
        chunks = [bytes(_buffer)]
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data if any(needle in data for needle in needles) else None


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF]


def decode(data: bytes) -> str | None:
    """UTF-8 without newline translation, so re-encoding is byte-identical."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def atomic_write(path: Path, text: str, *, allowed_roots: list[Path] | None = None) -> None:
    """Write via a temporary file in the same folder and an atomic rename, keeping permissions.

    Refuses symlinks (writing through one could land outside the paths given) and paths outside
    `allowed_roots`.
    """
    if path.is_symlink():
        raise WriteRefused(f"{path}: refusing to write through a symlink")
    real = path.resolve()
    if allowed_roots is not None and not any(real.is_relative_to(r.resolve()) for r in allowed_roots):
        raise WriteRefused(f"{path}: outside the paths given")
    mode = stat.S_IMODE(os.stat(real).st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".vmm-tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

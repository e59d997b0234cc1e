"""File discovery and reading: which files a run checks, and their bytes.

Writing lives in `migrator.safe_write`, git's ignore rules in `migrator.git_ignores`.

Symbolic links: a walk never follows one (a link inside the tree is neither a file nor a folder
to it). A link named on the command line is followed for reading, since the user asked for it,
but a fix is never written through a link (see `safe_write`); a dangling one is an error.
"""

from __future__ import annotations

import codecs
import errno
import operator
import os
import stat
from typing import Callable, Iterator

from migrator.config import Settings
from migrator.filenames import printable
from migrator.git_ignores import GitIgnores, git_root
from migrator.safe_write import TEMP_SUFFIX, WriteRefused, is_temp_name

__all__ = [
    "PathError", "WriteRefused", "discover", "display_path", "git_root", "read_if_contains",
    "looks_binary", "decode", "unicode_bom",
]

BINARY_SNIFF = 8192


class PathError(FileNotFoundError):
    """A path named on the command line that cannot be checked (exit 2). `args[0]` is the path
    as given, `reason` what is wrong with it."""

    def __init__(self, path: str, reason: str = "no such file or directory") -> None:
        super().__init__(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{printable(self.args[0])}: {self.reason}"


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


_entry_name = operator.attrgetter("name")


def display_path(path: str, cwd: str) -> str:
    """How a path is shown: relative to the working folder when below it, else absolute."""
    prefix = cwd.rstrip(os.sep) + os.sep
    return path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else path


def _excluded_file(excludes: "_Excludes", rel: str) -> bool:
    """Whether the excludes cover a file at `rel` (relative to the configuration's folder): by
    its own name or path, or by a folder on its way."""
    return excludes.match(rel.rsplit("/", 1)[-1], rel, False) or any(
        excludes.match(part, part, True) for part in rel.split("/")[:-1]
    )


def excluded_name(name: str, settings: Settings) -> bool:
    """Whether the configured excludes cover a file of this name (`--stdin-filename` with
    `--force-exclude`: the text has a name but no file)."""
    absolute = os.path.normpath(os.path.join(os.getcwd(), name))
    rel = os.path.relpath(absolute, str(settings.root))
    rel = rel.replace(os.sep, "/") if not rel.startswith("..") else absolute
    return _excluded_file(_Excludes((*settings.exclude, *settings.extend_exclude)), rel)


def discover(
    paths: list[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    on_temp_file: Callable[[str], None] | None = None,
    on_error: Callable[[str, OSError], None] | None = None,
) -> Iterator[str]:
    """Yield the absolute path of every file to check.

    Paths given explicitly are always checked unless `force_exclude` (pre-commit passes staged
    files by name, so excludes must apply to them too). A walk never follows a symbolic link;
    a link named explicitly is followed (to a file: checked; to a folder: walked). Our own
    temporary files are never checked; `on_temp_file` hears of each one a walk meets, and
    `on_error` of each folder that cannot be listed (its files were meant to be checked).
    Raises PathError for a path that does not exist, a dangling link, or a special file.
    """
    cwd = os.getcwd()
    root = str(settings.root)
    excludes = _Excludes((*settings.exclude, *settings.extend_exclude))
    gitignores = GitIgnores() if settings.respect_gitignore else None
    seen: set[str] = set()

    def rel_to_root(path: str) -> str:
        rel = os.path.relpath(path, root)
        return rel.replace(os.sep, "/") if not rel.startswith("..") else path

    named_files: list[str] = []
    folders: list[str] = []
    for raw in paths:
        absolute = os.path.normpath(os.path.join(cwd, raw))
        if os.path.isfile(absolute):  # follows a link named here
            named_files.append(absolute)
        elif os.path.isdir(absolute):
            folders.append(absolute)
        elif os.path.islink(absolute):
            raise PathError(raw, f"dangling symbolic link (to {printable(os.readlink(absolute))})")
        elif os.path.lexists(absolute):
            raise PathError(raw, "not a regular file or folder")
        else:
            raise PathError(raw)

    if named_files:
        ignored: set[str] = set()
        if force_exclude and gitignores is not None:
            ignored = gitignores.ignored_files(named_files)
        for absolute in named_files:
            if force_exclude and (absolute in ignored or _excluded_file(excludes, rel_to_root(absolute))):
                continue
            if absolute not in seen:
                seen.add(absolute)
                yield absolute

    for top in folders:
        # A folder reached through a link named here follows git's rules where it really is.
        real_top = os.path.realpath(top) if gitignores is not None else top
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=_entry_name, reverse=True)
            except OSError as err:
                if on_error is not None:
                    on_error(folder, err)
                continue
            ignored_here = None
            if gitignores is not None:
                names = [e.name for e in entries]
                if real_top == top:
                    ignored_here = gitignores.checker(folder, top, names)
                else:
                    real_check = gitignores.checker(real_top + folder[len(top):], real_top, names)
                    if real_check is not None:
                        ignored_here = lambda path, is_dir, _c=real_check: _c(real_top + path[len(top):], is_dir)  # noqa: E731
            excluded_names, spec = excludes.names, excludes.spec
            for entry in entries:
                # Without following links a symlink is neither a file nor a folder: never walked.
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir and not entry.is_file(follow_symlinks=False):
                    continue
                name, path = entry.name, entry.path
                if not is_dir and name.endswith(TEMP_SUFFIX) and is_temp_name(name):
                    if on_temp_file is not None:
                        on_temp_file(path)
                    continue
                if name in excluded_names or (spec is not None and excludes.match(name, rel_to_root(path), is_dir)):
                    continue
                if ignored_here is not None and ignored_here(path, is_dir):
                    continue
                if is_dir:
                    stack.append(path)
                elif path not in seen:
                    seen.add(path)
                    yield path


_CHUNK = 1 << 16
_buffer = bytearray(_CHUNK)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in must not hang the run
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# Byte-order marks of the encodings other than UTF-8 that text editors write.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


_BOM_FIRST_BYTES = frozenset(bom[0] for bom, _ in _BOMS)


def unicode_bom(data: bytes) -> str | None:
    """`utf-16` or `utf-32` when `data` starts with that encoding's byte-order mark."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def read_if_contains(
    path: str, anchors: tuple[bytes, ...], needles: tuple[bytes, ...] | None = None, *, follow: bool = False
) -> bytes | None:
    """The file's bytes if it contains any needle, else None.

    The hot path of a run: most files hold no reference, so they are read into one reused
    buffer with raw syscalls and never decoded. `anchors` are substrings shared by the needles
    (one scan each); only a file that contains an anchor is checked for the needles themselves.
    A UTF-16/32 file (with a byte-order mark) is searched in its decoded text.
    Raises OSError like open(); a symbolic link (unless `follow`, for a link the user named)
    or a special file raises too, since what was discovered as a file has been replaced.
    """
    needles = needles or anchors
    fd = os.open(path, _OPEN_FLAGS | (0 if follow else _NOFOLLOW))
    try:
        n = os.readv(fd, [_buffer])
        # Only an empty read or a full buffer can come from something that is not a regular
        # file any more (a FIFO, a device swapped in); checking just those keeps the hot path
        # (one read of a small file) at three system calls.
        if (n == 0 or n == _CHUNK) and not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        # Byte-order marks other than UTF-8's start with 0x00, 0xFE or 0xFF (one byte test).
        if n < _CHUNK and (n == 0 or _buffer[0] not in _BOM_FIRST_BYTES or unicode_bom(bytes(_buffer[:4])) is None):
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
        chunks = [bytes(_buffer[:n])]
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "replaced by a symbolic link while the run was reading", path) from None
        raise
    finally:
        os.close(fd)
    data = b"".join(chunks)
    encoding = unicode_bom(data)
    if encoding is not None:
        text = data.decode(encoding, errors="replace")
        return data if any(needle.decode("ascii", "replace") in text for needle in needles) else None
    return data if any(needle in data for needle in needles) else None


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF]


def decode(data: bytes) -> str | None:
    """UTF-8 without newline translation, so re-encoding is byte-identical."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_python_source(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) of Python source that declares an encoding other than UTF-8 on its
    first two lines (PEP 263: `# -*- coding: latin-1 -*-`) and decodes with it; None otherwise.
    Only codecs that give back the exact bytes when the text is encoded again qualify, so a
    fix rewrites nothing but what it changes."""
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # an unknown codec, or a cookie that contradicts a BOM
        return None
    if codecs.lookup(encoding).name == "utf-8":
        return None
    try:
        text = data.decode(encoding)
        if text.encode(encoding) != data:
            return None
    except (UnicodeError, LookupError):
        return None
    return text, encoding

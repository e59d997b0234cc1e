"""Which files git ignores, decided the way git decides it.

In a git work tree with git installed, git itself is asked, once per repository:
`git ls-files --cached --others --exclude-standard -z` lists every file git does not ignore
(tracked files, even when a pattern matches them, and untracked files no rule excludes), with
every rule git has: nested `.gitignore` files and their `!negations`, `.git/info/exclude` and
the user's `core.excludesFile`. Files named on the command line are asked about with one
`git check-ignore --stdin` per repository.

Without git (not installed, not a repository, or git refuses it), the `.gitignore` files met
on the way are matched with pathspec's gitignore semantics, last matching pattern winning from
the repository root down, plus `.git/info/exclude` and the default global excludes file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    import subprocess

# Variables with which an outer git process (a hook) would point our calls at another
# repository or index.
_GIT_LOCATION_VARIABLES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_PREFIX", "GIT_NAMESPACE",
)

Checker = Callable[[str, bool], bool]


def git_root(start: str) -> str | None:
    """The git work tree containing `start`, if any."""
    folder = start
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _git(root: str, *args: str, stdin: bytes | None = None) -> "subprocess.CompletedProcess[bytes] | None":
    # Imported here: a walk outside any repository never pays for subprocess.
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    try:
        return subprocess.run(
            [git, "-C", root, *args], input=stdin, capture_output=True, env=env, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _gitwildmatch(lines: list[str]):  # type: ignore[no-untyped-def]
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


class _Listing:
    """What `git ls-files` says about one repository: the files git keeps, and the folders
    that hold any of them (a folder holding none is ignored, or empty)."""

    def __init__(self, root: str, names: Iterable[str]) -> None:
        self.root = root
        self.files: set[str] = set()
        self.folders: set[str] = {""}
        for name in names:
            if name.endswith("/"):  # an untracked nested repository
                name = name.rstrip("/")
                self.folders.add(name)
            else:
                self.files.add(name)
            parent = os.path.dirname(name)
            while parent not in self.folders:
                self.folders.add(parent)
                parent = os.path.dirname(parent)

    @classmethod
    def ask(cls, root: str) -> "_Listing | None":
        done = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
        if done is None or done.returncode != 0:
            return None
        names = (os.fsdecode(raw) for raw in done.stdout.split(b"\0") if raw)
        return cls(root, names)

    def ignored(self, path: str, is_dir: bool) -> bool:
        prefix = self.root.rstrip(os.sep) + os.sep
        rel = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, self.root)
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        # A tracked submodule is listed as a file; it is walked as a folder (its own repository).
        return rel not in self.folders and rel not in self.files if is_dir else rel not in self.files


class _Patterns:
    """The fallback without git: `.gitignore` files from `root` down, last match wins; in a
    repository also `.git/info/exclude` and the default global excludes file. Each folder's
    list of (folder, spec) is computed once; a folder without any spec costs nothing."""

    def __init__(self, root: str, *, repository: bool) -> None:
        self.root = root
        self._specs: dict[str, object] = {}
        self._chains: dict[str, tuple[tuple[str, object], ...]] = {}
        extra = []
        if repository:
            for path in (os.path.join(root, ".git", "info", "exclude"), _global_excludes_file()):
                spec = _read_spec(path)
                if spec is not None:
                    extra.append((root, spec))
        self._chains[root] = (*extra, *self._own(root, None))

    def _own(self, folder: str, has_gitignore: bool | None) -> tuple[tuple[str, object], ...]:
        if has_gitignore is False:
            return ()
        if folder not in self._specs:
            self._specs[folder] = _read_spec(os.path.join(folder, ".gitignore"))
        spec = self._specs[folder]
        return ((folder, spec),) if spec is not None else ()

    def chain(self, folder: str, has_gitignore: bool | None = None) -> tuple[tuple[str, object], ...]:
        """The specs that apply to entries of `folder`, root first. `has_gitignore` (known from
        the folder's listing during a walk) saves a failed open() per folder."""
        if folder not in self._chains:
            parent = os.path.dirname(folder)
            inherited = self.chain(parent) if parent != folder else ()
            self._chains[folder] = (*inherited, *self._own(folder, has_gitignore))
        return self._chains[folder]

    def checker(self, folder: str, has_gitignore: bool | None = None) -> Checker | None:
        specs = self.chain(folder, has_gitignore)
        if not specs:
            return None

        def ignored(path: str, is_dir: bool) -> bool:
            suffix = "/" if is_dir else ""
            verdict: bool | None = None
            for base, spec in specs:
                prefix = base.rstrip(os.sep) + os.sep
                rel = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, base)
                rel = rel.replace(os.sep, "/") + suffix
                include = spec.check_file(rel).include  # type: ignore[attr-defined]
                if include is not None:
                    verdict = include
            return bool(verdict)

        return ignored

    def ignored(self, path: str, is_dir: bool) -> bool:
        check = self.checker(os.path.dirname(path))
        return check is not None and check(path, is_dir)


def _read_spec(path: str | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except (OSError, ValueError):
        return None
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None
    return _gitwildmatch(lines)


def _global_excludes_file() -> str | None:
    """git's default `core.excludesFile` (used only when git itself cannot be asked)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "git", "ignore")


class GitIgnores:
    """Answers "does git ignore this path?" during a walk, one git call per repository."""

    def __init__(self) -> None:
        self._roots: dict[str, str | None] = {}
        self._listings: dict[str, _Listing | None] = {}
        self._patterns: dict[str, _Patterns] = {}

    def root_of(self, folder: str) -> str | None:
        """The work tree containing `folder` (cached: asked once per folder of a walk)."""
        if folder not in self._roots:
            if os.path.lexists(os.path.join(folder, ".git")):
                self._roots[folder] = folder
            else:
                parent = os.path.dirname(folder)
                self._roots[folder] = None if parent == folder else self.root_of(parent)
        return self._roots[folder]

    def checker(self, folder: str, top: str, names: Iterable[str] = ()) -> Checker | None:
        """`ignored(path, is_dir)` for the entries of `folder`, or None when nothing can be
        ignored there. `top` is the folder the walk started from (outside a repository,
        `.gitignore` files apply from there down); `names` are the folder's entries."""
        has_git = has_gitignore = False
        for name in names:
            if name == ".git":
                has_git = True
            elif name == ".gitignore":
                has_gitignore = True
        if has_git:
            self._roots[folder] = folder
        root = self.root_of(folder)
        if root is not None:
            if root not in self._listings:
                self._listings[root] = _Listing.ask(root)
            listing = self._listings[root]
            if listing is not None:
                return listing.ignored
        return self._fallback(root, top).checker(folder, has_gitignore if names else None)

    def _fallback(self, root: str | None, top: str) -> _Patterns:
        base = root or top
        if base not in self._patterns:
            self._patterns[base] = _Patterns(base, repository=root is not None)
        return self._patterns[base]

    def ignored_files(self, paths: list[str]) -> set[str]:
        """Which of these explicitly named files git ignores: `git check-ignore` once per
        repository (tracked files are never ignored, as in git)."""
        by_root: dict[str | None, list[str]] = {}
        for path in paths:
            by_root.setdefault(self.root_of(os.path.dirname(path)), []).append(path)
        ignored: set[str] = set()
        for root, members in by_root.items():
            answer = None
            if root is not None:
                rels = [os.path.relpath(p, root) for p in members]
                done = _git(root, "check-ignore", "-z", "--stdin", stdin=b"".join(os.fsencode(r) + b"\0" for r in rels))
                # 0: some are ignored, 1: none is; anything else: git could not answer.
                if done is not None and done.returncode in (0, 1):
                    listed = {os.fsdecode(raw) for raw in done.stdout.split(b"\0") if raw}
                    answer = {p for p, r in zip(members, rels) if r in listed}
            if answer is None:
                answer = {p for p in members if self._ignored_with_parents(root, p)}
            ignored |= answer
        return ignored

    def _ignored_with_parents(self, root: str | None, path: str) -> bool:
        """A file is ignored when it or a folder above it (up to the root) is."""
        top = root or os.path.dirname(path)
        patterns = self._fallback(root, top)
        if patterns.ignored(path, False):
            return True
        folder = os.path.dirname(path)
        while folder != top and os.path.dirname(folder) != folder:
            if patterns.ignored(folder, True):
                return True
            folder = os.path.dirname(folder)
        return False

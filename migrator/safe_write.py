"""Writing files back without losing a byte, an owner or a link.

A fixed file is written to a temporary file in its own folder, synced, given the original's
owner, group, mode and extended attributes, and renamed over the original: a reader, a crash
or `kill -9` sees either the old file or the new one, never half of one.

The folder chain is opened from `/` one component at a time with `O_NOFOLLOW`, and every
later step works relative to that folder's descriptor, so a symbolic link anywhere in the
path (or one swapped in while the tool runs) refuses the write instead of redirecting it.
A file is refused, with the reason, rather than changed in a way its owner would not expect:
- it is a symbolic link, or not a regular file;
- it has other hard links (a rename would split them into two different files);
- it is read-only for whoever runs the tool (for root: no write bit at all);
- its owner, group or an extended attribute cannot be carried over to the new file;
- its content changed on disk after it was read (an editor saved it meanwhile).

Temporary files are named `.<name>.<pid>-<random>.vmm-tmp`; discovery never checks them, and
one whose process is gone is stale: `--fix` and `migrate` delete it, `check` reports it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time

from migrator.filenames import printable

TEMP_SUFFIX = ".vmm-tmp"
_TEMP_NAME = re.compile(r"\..*\.(?P<pid>\d+)-[0-9a-f]{8}\.vmm-tmp\Z", re.S)
# A temporary file this old is stale even if its process id was reused since.
STALE_AFTER_SECONDS = 3600
_NAME_MAX = 255


class WriteRefused(Exception):
    """The file was deliberately not written; the message says why."""


def temp_name(name: str) -> str:
    tail = f".{os.getpid()}-{os.urandom(4).hex()}{TEMP_SUFFIX}"
    stem = os.fsencode(name)[: _NAME_MAX - len(tail) - 1]
    return "." + os.fsdecode(stem) + tail


def is_temp_name(name: str) -> bool:
    return name.endswith(TEMP_SUFFIX) and _TEMP_NAME.match(name) is not None


def is_stale_temp(path: str) -> bool:
    """Whether `path` is a temporary file of ours whose writer is gone: its process no longer
    exists, or it is older than any write takes. Only regular files count."""
    match = _TEMP_NAME.match(os.path.basename(path))
    if match is None:
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if time.time() - info.st_mtime > STALE_AFTER_SECONDS:
        return True
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _open_folder(folder: str) -> int:
    """A descriptor of `folder` (absolute), opened without following any symbolic link."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    walked = "/"
    try:
        for part in folder.strip("/").split("/"):
            if not part or part == ".":
                continue
            walked = os.path.join(walked, part)
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(walked):
                    raise WriteRefused(
                        f"reached through the symbolic link {printable(walked)}; files are never written "
                        "through symbolic links (name the real path to fix it)"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _writable_for_me(info: os.stat_result) -> bool:
    mode = info.st_mode
    euid = os.geteuid()
    if euid == 0:
        return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    if info.st_uid == euid:
        return bool(mode & stat.S_IWUSR)
    if info.st_gid == os.getegid() or info.st_gid in os.getgroups():
        return bool(mode & stat.S_IWGRP)
    return bool(mode & stat.S_IWOTH)


def _holds(fd: int, expected: bytes) -> bool:
    """Whether the open file holds exactly `expected`, compared a chunk at a time: reading a
    large file whole would put two more copies of it in memory at the end of a fix."""
    view = memoryview(expected)
    at = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return at == len(view)
        if view[at : at + len(chunk)] != chunk:
            return False
        at += len(chunk)


def _xattrs(fd: int) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(fd)
    except (OSError, AttributeError):  # not supported here
        return []
    attributes = []
    for name in names:
        try:
            attributes.append((name, os.getxattr(fd, name)))
        except OSError as err:
            if err.errno != errno.ENODATA:
                raise
    return attributes


def write_fixed(path: str, new: bytes, expected: bytes) -> None:
    """Replace the file at absolute `path`, which must still hold `expected`, by `new`.

    Raises WriteRefused (a deliberate refusal, with the reason) or OSError."""
    folder, name = os.path.split(os.path.normpath(path))
    dir_fd = _open_folder(folder)
    try:
        _replace_in(dir_fd, name, new, expected)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        except OSError:
            pass
    finally:
        os.close(dir_fd)


def _replace_in(dir_fd: int, name: str, new: bytes, expected: bytes) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise WriteRefused("a symbolic link; it was checked, but files are never written through symbolic links") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WriteRefused("not a regular file")
        if info.st_nlink > 1:
            raise WriteRefused(
                f"it has {info.st_nlink} hard links, and writing a new file would split them; "
                "apply the fix by hand (or `check --diff` and `patch`)"
            )
        if not _writable_for_me(info):
            raise WriteRefused("the file is read-only")
        if not _holds(fd, expected):
            raise WriteRefused("it changed on disk while it was being checked; run again")
        attributes = _xattrs(fd)
    finally:
        os.close(fd)

    tmp = temp_name(name)
    tmp_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    renamed = False
    try:
        try:
            view = memoryview(new)
            while view:
                view = view[os.write(tmp_fd, view):]
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(tmp_fd, info.st_uid, info.st_gid)
                except PermissionError:
                    raise WriteRefused(
                        f"it belongs to uid {info.st_uid}, gid {info.st_gid}, and a rewritten file would "
                        "belong to you; run as its owner"
                    ) from None
            os.fchmod(tmp_fd, stat.S_IMODE(info.st_mode))  # after chown, which clears set-id bits
            for attribute, value in attributes:
                try:
                    os.setxattr(tmp_fd, attribute, value)
                except OSError as err:
                    raise WriteRefused(
                        f"its extended attribute {printable(attribute)} cannot be kept ({err.strerror})"
                    ) from None
            os.fsync(tmp_fd)
        finally:
            os.close(tmp_fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        renamed = True
    finally:
        if not renamed:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass


def atomic_write_text(path: str, text: str) -> None:
    """Write a report, baseline or output file the user named: complete or not at all (a
    temporary file beside it, then a rename), never a truncated or 0-byte file. A symbolic
    link at that name is followed: the user chose the name, the link's target is updated."""
    real = os.path.realpath(path)
    folder, name = os.path.split(real)
    data = text.encode("utf-8", "backslashreplace")  # a lone surrogate from a JSON escape: `\ud800`
    tmp = os.path.join(folder, temp_name(name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)  # umask applies
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))  # replacing a file: keep its mode
        except FileNotFoundError:
            pass
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


"""The command lines' shared parts: argparse that reports a bad option as one ``error:`` line (exit code 2), the
checked option types, and writing a result file whole or not at all."""
from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

SEED_LIMIT = 2 ** 32  # NumPy's seeds


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr, ``error: <what>; <fix>``, and exit code 2 (argparse's own
    print the usage first and name the program instead)."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def _int(text: str, minimum: int, example: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum} (e.g. {example}), got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum} (e.g. {example}), got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int(text, 1, "64")


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _int(text, 0, "8")


def seed(text: str) -> int:
    """An argparse type: a random seed, 0 <= seed < 2**32."""
    value = _int(text, 0, "0")
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below 2**32 = {SEED_LIMIT}, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0 (e.g. 1e-4), got {text!r}")
    return value


def writable_file(text: str) -> Path:
    """An argparse type: a file path whose folder exists (checked before any work, so nothing is half done)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {str(path.parent)!r} does not exist; create it first")
    return path


def _remove_orphans(path: Path) -> None:
    """Delete the temporary files of earlier writes of ``path`` whose process is gone (a kill leaves them)."""
    for old in path.parent.glob(f".tmp-*-{path.name}"):
        pid = old.name[len(".tmp-"):-len(path.name) - 1]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            old.unlink(missing_ok=True)
        except (ValueError, OSError):
            continue  # not a pid, or its process lives


@contextmanager
def atomic_path(path: str | Path):
    """A temporary path beside ``path`` (``.tmp-<pid>-<name>``: the same suffix) to write the file to; renamed
    to ``path`` when the block ends, removed when it raises (or is interrupted). So a reader sees the old file or
    the new one, never half of one; a temporary file that a killed writer left is removed by the next write."""
    path = Path(path)
    _remove_orphans(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def fail(message: str) -> int:
    """Print ``error: message`` on stderr; returns the exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2

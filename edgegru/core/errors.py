"""The one exception type users see, and how entry points report it.

Every problem caused by the user's input (a file, a flag, a model) is raised as
:class:`EdgeGruError` with a one-line message that names the file, field or value
and says what was expected. The CLI prints that line and exits non-zero without a
traceback; anything else escaping is a bug in edgegru.
"""

import os
import sys
from collections.abc import Callable
from typing import TypeVar

Args = TypeVar("Args")
QUOTE_LIMIT = 80  # characters of a file's string shown in a message: enough to recognise it


def _escaped(ch: str) -> str:
    """A printable character as itself; anything else (and the backslash) as a Python escape."""
    return ch if ch.isprintable() and ch != "\\" else ascii(ch)[1:-1]


def quote(text: object, limit: int = QUOTE_LIMIT) -> str:
    """A string from an untrusted file, fit for one line of a message.

    Names and labels in model and data files are chosen by whoever wrote the file. Shown raw,
    a newline or an ANSI escape in them could forge extra ``edgegru: error:`` lines or
    repaint the terminal, so every such string reaches a message through here: quoted,
    every character that is not printable (control characters, line and paragraph
    separators, escapes) written as a Python escape, and cut to ``limit`` characters.
    """
    shown = "".join(_escaped(ch) for ch in str(text))
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"'{shown}'"


def one_line(message: str) -> str:
    """A message with every non-printable character escaped: the last guard of an error line,
    behind :func:`quote`, for strings that reached a message without it."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)


class EdgeGruError(Exception):
    """A problem with the user's input, reported as one clear line."""


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that Python's flush of stdout
    at exit does not fail on the closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_reporting(handler: Callable[[Args], int], args: Args, prog: str = "edgegru") -> int:
    """Run a command: an EdgeGruError becomes one ``prog: error: ...`` line and exit code 2,
    and so do the operating system's refusals (OSError: a path it cannot read or write)
    and running out of memory, which user input causes too.

    Both entry points (``edgegru`` and ``python -m edgegru.runtime``) go through here, so
    they report problems the same way.
    """
    try:
        return handler(args)
    except EdgeGruError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        silence_stdout()
        return 0
    except OSError as exc:  # a path the system refused: unreadable, too long, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {one_line(where + str(exc.strerror or exc))}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{prog}: error: out of memory: ask for smaller data, models or runs", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130

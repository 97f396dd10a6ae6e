"""The one exception type users see, and how entry points report it.

Every problem caused by the user's input (a file, a flag, a model) is raised as
:class:`EdgeGruError` with a one-line message that names the file, field or value
and says what was expected. The CLI prints that line and exits non-zero without a
traceback; anything else escaping is a bug in edgegru.
"""

import sys
from collections.abc import Callable
from typing import TypeVar

Args = TypeVar("Args")


class EdgeGruError(Exception):
    """A problem with the user's input, reported as one clear line."""


def run_reporting(handler: Callable[[Args], int], args: Args, prog: str = "edgegru") -> int:
    """Run a command: an EdgeGruError becomes one ``prog: error: ...`` line and exit code 2,
    and so do the operating system's refusals (OSError: a path it cannot read or write)
    and running out of memory, which user input causes too.

    Every entry point (``edgegru``, ``python -m edgegru.runtime``, ``python -m
    edgegru.pi``) goes through here, so they report problems the same way.
    """
    try:
        return handler(args)
    except EdgeGruError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the system refused: unreadable, too long, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{prog}: error: out of memory: ask for smaller data, models or runs", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130

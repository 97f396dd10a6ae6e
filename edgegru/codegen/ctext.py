"""What reaches the C as text: the prefix, an identifier that is checked, and strings from
model and data files, which are escaped.

Identifiers in the generated C never come from files: every one is the generator's own or
built from the prefix, which :func:`check_prefix` accepts only as a C identifier that
hides no library header. Text from files (class names, metadata) is chosen by whoever
wrote the file; it reaches the C only as a string literal (:func:`c_string`) or inside a
comment (:func:`c_comment`), and travels to the templates as :class:`FileText`, which
refuses every other way out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NoReturn

from edgegru.core.errors import EdgeGruError

C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # with fullmatch: $ would let a final newline in
C_KEYWORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "_Complex", "_Imaginary",
))  # fmt: skip
# <prefix>.h must not hide a header the generated code includes (with -I. it would)
C_HEADERS = frozenset((
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits", "locale",
    "math", "setjmp", "signal", "stdarg", "stdbool", "stddef", "stdint", "stdio", "stdlib", "string",
    "tgmath", "time", "wchar", "wctype", "arm_acle",
))  # fmt: skip
MAX_PREFIX = 64  # a file name with room for suffixes, and within any linker's symbol limit


def check_prefix(prefix: str) -> None:
    """Refuse a prefix that is not a C identifier or whose header would hide a library one."""
    if not C_IDENTIFIER.fullmatch(prefix) or prefix in C_KEYWORDS or len(prefix) > MAX_PREFIX:
        raise EdgeGruError(
            f"prefix {prefix!r}: expected a C identifier of at most {MAX_PREFIX} characters "
            "(letters, digits, _; not starting with a digit; not a C keyword)"
        )
    if prefix in C_HEADERS:
        raise EdgeGruError(f"prefix {prefix!r}: {prefix}.h would hide the C library's header; choose another")


MAX_C_STRING = 4095  # bytes of a string literal that every C99 compiler accepts (gcc -pedantic: no more)


def _string_byte(byte: int) -> str:
    """One byte of a C string literal: printable ASCII as itself, \\ " ? escaped, else octal."""
    char = chr(byte)
    if char in '\\"?':
        return "\\" + char  # \? so that no trigraph (??/ is a backslash under -std=c99) forms
    return char if 32 <= byte < 127 else f"\\{byte:03o}"


STRING_BYTES = tuple(_string_byte(b) for b in range(256))


def c_string(text: str) -> str:
    """A C string literal holding the UTF-8 bytes of ``text``; any str has one.

    Every byte outside printable ASCII is a 3-digit octal escape, which ends after its
    third digit, so a digit that follows stays a digit (a hex escape would swallow it).
    A lone surrogate, which has no UTF-8, becomes ``?``.
    """
    return '"' + "".join(STRING_BYTES[b] for b in text.encode("utf-8", "replace")) + '"'


MAX_COMMENT = 200  # characters of file text in a comment: enough to recognise it
COMMENT_PAIRS = re.compile(r"(?<=\*)(?=/)|(?<=/)(?=\*)|(?<=\?)(?=\?)")  # between */, /* and ??
COMMENT_ENDS = re.compile(r"^(?=[*/?])|(?<=[*/?])\Z")  # before or after a * / ? at either end


def c_comment(text: str) -> str:
    """``text`` made safe on one line of a ``/* ... */`` comment, whatever surrounds it.

    Printable ASCII stays, except the backslash; every other character (line breaks,
    controls, non-ASCII) and the backslash, which at a line's end would join the next
    line, become the text ``<U+XXXX>``. A space goes between ``*`` and ``/`` and between
    two ``?``, so no ``*/``, ``/*`` or trigraph forms, and beside a ``*``, ``/`` or ``?``
    at either end, so that none forms with the text around it. Beyond MAX_COMMENT
    characters the text is cut and ends in ``...``.
    """
    kept = "".join(c if " " <= c <= "~" and c != "\\" else f"<U+{ord(c):04X}>" for c in text[:MAX_COMMENT])
    kept = COMMENT_ENDS.sub(" ", COMMENT_PAIRS.sub(" ", kept))
    if len(text) > MAX_COMMENT or len(kept) > MAX_COMMENT:
        kept = kept[: MAX_COMMENT - 3] + "..."
    return kept


class FileText:
    """A string from a model or data file on its way into a template.

    Only the ``c_string`` and ``c_comment`` filters turn it into text: ``str()``,
    formatting and comparison raise, so a template that prints it unescaped (or tests it
    against a value) fails to render instead of emitting the file's text as C.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError("text from a file reaches the C only through the c_string or c_comment filter")

    __str__ = __format__ = __eq__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    @staticmethod
    def filter(escape: Callable[[str], str]) -> Callable[[FileText | str], str]:
        """``escape`` as a Jinja filter: of a FileText's text, or of a string built in Python."""
        return lambda value: escape(value._text if isinstance(value, FileText) else value)

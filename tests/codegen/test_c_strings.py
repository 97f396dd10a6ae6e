"""c_string and c_comment: any text becomes a C string literal of its UTF-8 bytes, or inert comment text.

Checked with the real compiler under the strict flags the generated code must pass (-std=c99 turns
trigraphs on). The fuzz tests take their example count from the hypothesis profile (tests/conftest.py);
for a long session: HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/codegen/test_c_strings.py -k fuzz
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgegru.codegen.ctext import MAX_C_STRING, MAX_COMMENT, FileText, c_comment, c_string
from edgegru.codegen.render import environment
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from tests.helpers import PAYLOAD

# C that would run system() when the program starts, if it were pasted into the C as is
HOSTILE = [
    "",
    "walk",
    "Grüße, ñandú, Ελληνικά, кириллица, עברית, العربية, हिन्दी, 中文, 日本語, 한국어, ไทย",
    "emoji 😀👍🏽🇫🇷 and ZWJ 👩‍👩‍👧",
    "€54",  # a digit right after a non-ASCII character: octal escapes end after 3 digits
    "é0é7\u00ff8\u07ff9",
    "NUL \x00 inside, and at the end \x00",
    "\x00",
    "DEL \x7f, C1 \x85 \x9b, controls \x01\x07\x08\t\n\v\f\r\x1b[2J",
    'quote " backslash \\ both \\" and \\\\',
    "trigraphs ??/ ??= ??( ??) ??' ??< ??> ??! ??- and ???/",
    "ends with ??",
    "?",
    "*/ /* // comment markers */",
    "\n#include <stdlib.h>\n",
    "line\\\ncontinued",
    "separators \u2028 \u2029 bom \ufeff",
    PAYLOAD,
    "\U0010ffff\ue000",
    "a" * 4000,
    "€" * (MAX_C_STRING // 3),  # exactly MAX_C_STRING bytes: the longest literal -pedantic accepts
]


def _run(directory: Path, source: str) -> str:
    """Compile ``source`` strictly with gcc, run it and return what it printed."""
    path = directory / "t.c"
    path.write_text(source, encoding="ascii")  # both escapes emit ASCII only
    exe = directory / "t"
    run_tool(["gcc", *STRICT_FLAGS, str(path), "-o", str(exe)], "compile the test program")
    return run_tool([str(exe)], "run the test program")


def _echo_program(texts: list[str]) -> str:
    """A program printing, for each text, its literal's bytes (sizeof - 1 of them: NULs too) in hex."""
    items = "".join(f"    {{ {lit}, sizeof {lit} - 1 }},\n" for lit in map(c_string, texts))
    return (
        "#include <stdio.h>\n\n"
        "static const struct { const char *text; size_t size; } items[] = {\n" + items + "};\n\n"
        "int main(void)\n{\n"
        "    for (size_t i = 0; i < sizeof items / sizeof items[0]; ++i) {\n"
        "        for (size_t j = 0; j < items[i].size; ++j) {\n"
        '            printf("%02x", (unsigned)(unsigned char)items[i].text[j]);\n'
        "        }\n"
        '        printf("\\n");\n'
        "    }\n"
        "    return 0;\n}\n"
    )


def _assert_literals_hold_utf8(directory: Path, texts: list[str]) -> None:
    printed = _run(directory, _echo_program(texts)).split("\n")
    assert printed == [t.encode("utf-8").hex() for t in texts] + [""]


def _comment_program(texts: list[str]) -> str:
    """A program with each text in a block comment tight between code, and in a line comment;
    it exits 0 only if every statement after them still runs."""
    lines = []
    for text in texts:
        lines.append(f"    n += 1;/*{c_comment(text)}*/n += 1;")
        lines.append(f"    // {c_comment(text)}")
        lines.append("    n += 1;")
    body = "\n".join(lines)
    return f"int main(void)\n{{\n    int n = 0;\n{body}\n    return n == {3 * len(texts)} ? 0 : 1;\n}}\n"


def test_literals_hold_the_utf8_bytes(tmp_path):
    _assert_literals_hold_utf8(tmp_path, HOSTILE)


def test_literal_spelling():
    assert c_string("€54") == '"\\342\\202\\25454"'
    assert c_string('a"\\?') == '"a\\"\\\\\\?"'
    assert c_string("\ud800") == '"\\?"'  # a lone surrogate has no UTF-8: it becomes ?
    assert all(" " <= c <= "~" for c in c_string("".join(HOSTILE)))


def test_comments_are_inert(tmp_path):
    _run(tmp_path, _comment_program(HOSTILE))


def test_comment_spelling():
    assert c_comment("random(seed=0)") == "random(seed=0)"
    assert c_comment("données\n") == "donn<U+00E9>es<U+000A>"
    assert c_comment("a */ b /* c ??/") == "a * / b / * c ? ?/ "  # an end / pads
    assert c_comment("C:\\data\\") == "C:<U+005C>data<U+005C>"
    assert c_comment("/x*") == " /x* "
    long = c_comment("x" * 1000)
    assert len(long) == MAX_COMMENT and long.endswith("...")


def test_file_text_is_printed_only_through_the_filters():
    """A template that forgets the escape fails to render instead of emitting the file's text."""
    env = environment()
    text = FileText("a */ b")
    assert (
        env.from_string("{{ t | c_string }} /* {{ t | c_comment }} */").render(t=text)
        == '"a */ b" /* a * / b */'
    )
    for unescaped in ("{{ t }}", "{{ t ~ '' }}", "{{ t | replace('a', 'b') }}", "{{ t | upper }}",
                      "{{ [t] | join }}", "{% if t == 'a' %}{% endif %}", "{{ '%s' % t }}"):  # fmt: skip
        with pytest.raises(TypeError, match="only through the c_string or c_comment filter"):
            env.from_string(unescaped).render(t=text)
    with pytest.raises(TypeError):
        f"{text}"  # formatting in Python is refused too


@settings(deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=40))
def test_fuzz_literals_hold_the_utf8_bytes(texts):
    with tempfile.TemporaryDirectory() as directory:
        _assert_literals_hold_utf8(Path(directory), texts)


@settings(deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=40))
def test_fuzz_comments_are_inert(texts):
    with tempfile.TemporaryDirectory() as directory:
        _run(Path(directory), _comment_program(texts))


@settings(deadline=None)
@given(st.text())
def test_fuzz_comment_text(text):
    out = c_comment(text)
    assert all(" " <= c <= "~" for c in out) and "\\" not in out
    assert "*/" not in out and "/*" not in out and "??" not in out
    assert out[:1] not in ("*", "/", "?") and out[-1:] not in ("*", "/", "?")
    assert len(out) <= MAX_COMMENT


@settings(deadline=None)
@given(
    st.text(
        st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\*/?"), max_size=MAX_COMMENT
    )
)
def test_fuzz_plain_comment_text_is_kept(text):
    assert c_comment(text) == text

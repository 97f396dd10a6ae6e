"""The Debian mirror the emulated Pi's root is built from: the one this machine's apt uses.

Read at run time from ``/etc/apt`` (deb822 ``.sources`` files and one-line ``.list``
files alike) rather than built in, so a machine behind its own mirror builds from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import SUITE


def _deb822_entries(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """(URIs, suites) of the enabled ``deb`` stanzas of a .sources file."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key is not None:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            yield fields.get("uris", "").split(), fields.get("suites", "").split()


def _one_line_entries(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """(URIs, suites) of the ``deb`` lines of a sources.list file."""
    for line in text.splitlines():
        match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if match:
            yield [match[1]], [match[2]]


def apt_mirror(suite: str = SUITE, apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror of this machine's apt sources that serves ``suite``.

    An entry listing ``suite`` itself wins; failing that, the first entry of a
    plain release (not -updates or -security, which other archives serve),
    since a Debian mirror carries every release.
    """
    entries: list[tuple[list[str], list[str]]] = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if path.suffix == ".sources" and path.is_file():
            entries += _deb822_entries(path.read_text(errors="replace"))
        elif (path.suffix == ".list" or path.name == "sources.list") and path.is_file():
            entries += _one_line_entries(path.read_text(errors="replace"))
    usable = [(uris, suites) for uris, suites in entries if uris and not uris[0].startswith("cdrom:")]
    for wanted in (lambda s: s == suite, lambda s: "-" not in s):
        for uris, suites in usable:
            if any(wanted(s) for s in suites):
                return uris[0]
    raise EdgeGruError(
        f"{apt_dir}: no Debian mirror in the apt sources (sources.list, sources.list.d/*.sources "
        f"or *.list); the emulated Pi's {SUITE} arm64 root is built from one"
    )

"""The board examples shipped with edgegru, copied out of the installed package.

An example (``firmware/examples/<name>``) builds against the firmware harness two folders
up (its Makefile and CMakeLists.txt name ``../..``), so a copy keeps that layout: the
harness's files at the top of the destination and the example in ``examples/<name>``.
The copy is built complete beside the destination and swapped in, so a failure leaves
nothing half-written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgegru.core.atomic import atomic_directory, check_output_path
from edgegru.core.errors import EdgeGruError, quote
from edgegru.targets.cortex_m.qemu import firmware_dir

EXAMPLES = "examples"


def board_examples() -> list[str]:
    """The names of the shipped board examples, sorted."""
    folder = firmware_dir() / EXAMPLES
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _shipped_files(folder: Path) -> list[Path]:
    """The files of a package folder that a user's build needs: all but Python's own."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc"))


def copy_board_example(name: str, dest: str | Path) -> Path:
    """Copy board example ``name`` with the harness it builds against into the new folder
    ``dest``; return the example's own folder inside it (where its Makefile is).

    ``dest`` must not exist or be an empty folder: a copy never mixes with, or replaces,
    files a user may have edited.
    """
    dest = Path(dest)
    names = board_examples()
    if name not in names:
        raise EdgeGruError(f"unknown example {quote(name)}; the examples are: {', '.join(names)}")
    check_output_path(dest, "directory")
    if dest.exists() and not dest.is_dir():
        raise EdgeGruError(f"{dest}: is not a directory; expected a new directory for the example")
    if dest.is_dir() and any(dest.iterdir()):
        raise EdgeGruError(f"{dest}: directory is not empty; give a new or empty directory for the example")
    harness = firmware_dir()

    def fill(tmp: Path) -> None:
        (tmp / EXAMPLES / name).mkdir(parents=True)
        for folder in (Path(), Path(EXAMPLES, name)):
            for source in _shipped_files(harness / folder):
                shutil.copyfile(source, tmp / folder / source.name)

    atomic_directory(dest, fill)
    return dest / EXAMPLES / name

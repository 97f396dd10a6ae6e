"""The CMakeLists.txt of a C export: the model as a static library for ``add_subdirectory``.

A firmware project built with CMake (STM32CubeMX, Zephyr, the Pico SDK, ESP-IDF all are)
takes the export in with two lines; the library carries its include directory, so the
project's targets find ``<prefix>.h`` by linking it. The file names only the prefix,
which is a checked C identifier, and the generator's own text: nothing from a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from edgegru.codegen.ctext import check_prefix
from edgegru.codegen.render import environment
from edgegru.core.version import __version__

CMAKE_LISTS = "CMakeLists.txt"


def cmake_lists(prefix: str, files: Iterable[str]) -> str:
    """The CMakeLists.txt that builds the export's ``files`` as the static library ``<prefix>``."""
    check_prefix(prefix)
    template = environment().get_template("CMakeLists.txt.j2")
    return template.render(p=prefix, version=__version__, files=sorted(files))

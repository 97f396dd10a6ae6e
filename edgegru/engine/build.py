"""The C engine's shared library: a model's generated C and the engine shim, compiled.

Two ways to get one:

* :func:`cached_library`, on first use on the machine that runs it: the system C compiler
  (``$CC``, else ``cc``) builds it once into the user's cache directory
  (``$XDG_CACHE_HOME/edgegru/engine``, else ``~/.cache/edgegru/engine``). The file name is
  the model hash and a digest of everything that decides the machine code (the generated
  sources, the compiler's identity, the flags, this CPU's features), never a name taken
  from a file, and the build is renamed into place complete, so concurrent first uses
  and interrupted builds never leave a half-written library behind;
* :func:`build_library` to a file the user names, for another machine: ``edgegru engine
  MODEL.egru --target pi4 -o libmodel.so`` cross-compiles with aarch64-linux-gnu-gcc, and
  the Pi loads it with no compiler installed.

Either way the library is loaded by :class:`edgegru.engine.library.EngineLibrary`, which
checks it against the model.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgegru.codegen.context import hidden_macros
from edgegru.codegen.export import layout_for
from edgegru.codegen.render import environment, render
from edgegru.core.atomic import atomic_write_bytes
from edgegru.core.cache import cache_dir
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.core.version import __version__
from edgegru.engine.library import ABI_VERSION
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.pi.boards import BOARDS
from edgegru.targets.pi.tools import CROSS_CC, require_tools

PREFIX = "model"  # the model's symbols are hidden in the library, so one prefix serves all
# -O3: on aarch64 gcc 12 vectorises the unit loop only there (20-23% fewer instructions per
# step than -O2 for the models of docs/raspberry-pi.md's table, counted with engine/icount.py).
SHARED_FLAGS = ("-O3", "-fPIC", "-shared", "-fvisibility=hidden")


@dataclass(frozen=True)
class Toolchain:
    """A compiler and the machine flags it builds a library with."""

    cc: str
    machine_flags: tuple[str, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        return (*STRICT_FLAGS, *SHARED_FLAGS, *self.machine_flags)


def host_toolchain() -> Toolchain:
    """The system compiler for this machine's CPU: ``-march=native`` picks the kernels its
    vector extensions allow (every kernel computes the same integers)."""
    return Toolchain(os.environ.get("CC") or "cc", ("-march=native",))


def toolchain_for(target: str) -> Toolchain:
    """``host``, or a Pi board (``pi4``, ``pi5``): aarch64-linux-gnu-gcc for the board's core.

    A Pi 4 library (Cortex-A72) also runs on a Pi 5; a Pi 5 one may use the dot-product
    instructions the Pi 4 lacks.
    """
    if target == "host":
        return host_toolchain()
    if target not in BOARDS:
        raise EdgeGruError(f"--target {target}: expected host or one of {', '.join(sorted(BOARDS))}")
    require_tools(CROSS_CC)
    return Toolchain(CROSS_CC, (f"-mcpu={BOARDS[target].cpu}",))


def engine_sources(qm: QuantizedModel) -> dict[str, str]:
    """The generated model (the host's ``rows`` layout, as ``--target c99`` exports it) and
    the engine shim, by file name."""
    files = dict(render(qm, PREFIX, layout_for("c99")).files)
    files[f"{PREFIX}_engine.c"] = (
        environment()
        .get_template("engine_shim.c.j2")
        .render(
            p=PREFIX,
            P=PREFIX.upper(),
            version=__version__,
            abi_version=ABI_VERSION,
            hidden_macros=hidden_macros(PREFIX.upper(), len(qm.layers)),
            state_ctype="int16_t" if qm.state_bits == 16 else "int8_t",
        )
    )
    return files


def build_library(qm: QuantizedModel, output: str | Path, toolchain: Toolchain) -> Path:
    """Compile the model's engine library with ``toolchain`` and write it to ``output``
    all or nothing."""
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="edgegru-engine-") as tmp:
        built = _compile(engine_sources(qm), Path(tmp), toolchain)
        atomic_write_bytes(output, built.read_bytes())
    return output


def cached_library(qm: QuantizedModel, toolchain: Toolchain | None = None) -> Path:
    """The model's library for this machine from the cache, built there first if missing."""
    toolchain = toolchain or host_toolchain()
    sources = engine_sources(qm)
    directory = cache_dir() / "engine"
    path = directory / f"{qm.fingerprint()}-{_build_key(sources, toolchain)}.so"
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory(prefix="edgegru-engine-") as tmp:
        built = _compile(sources, Path(tmp), toolchain)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            _install(built, path)
        except OSError as exc:
            raise EdgeGruError(
                f"{directory}: cannot write the engine cache ({exc.strerror or exc})"
            ) from None
    return path


def _install(built: Path, path: Path) -> None:
    """Copy to a unique name beside ``path``, then one rename: a concurrent reader sees no
    library or a whole one."""
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        shutil.copyfile(built, staged)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def _compile(sources: dict[str, str], directory: Path, toolchain: Toolchain) -> Path:
    return compile_sources(
        sources, directory, [toolchain.cc, *toolchain.flags], f"lib{PREFIX}.so", "build the C engine library"
    )


def compile_sources(
    sources: dict[str, str], directory: Path, command: list[str], output: str, what: str
) -> Path:
    """Write ``sources`` (by file name) into ``directory`` and compile their .c files with
    ``command`` (the compiler and its flags) into ``directory / output``."""
    for name, text in sources.items():
        (directory / name).write_text(text)
    c_files = [str(directory / name) for name in sources if name.endswith(".c")]
    built = directory / output
    run_tool([*command, *c_files, "-o", str(built)], what)
    return built


def _build_key(sources: dict[str, str], toolchain: Toolchain) -> str:
    """16 hex digits of the SHA-256 of what decides the library's machine code: the sources,
    the compiler (its path and ``--version``), the flags and, for ``-march=native``, this
    CPU's model and features (a cache shared between machines must not hand one another's)."""
    digest = hashlib.sha256()
    compiler = shutil.which(toolchain.cc) or toolchain.cc
    parts = [f"abi {ABI_VERSION}", compiler, run_tool([toolchain.cc, "--version"], "identify the C compiler")]
    parts += [" ".join(toolchain.flags), platform.machine(), _cpu_features()]
    parts += [f"{name}\n{text}" for name, text in sorted(sources.items())]
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _cpu_features() -> str:
    """The model-name and flag lines of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    keys = ("model name", "flags", "features", "cpu part")
    return "\n".join(sorted({ln for ln in text.splitlines() if ln.lower().startswith(keys)}))

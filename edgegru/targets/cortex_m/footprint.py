"""The flash and RAM one model costs on a Cortex-M core, and the budgets it must fit.

The footprint is measured on the model's own object file (arm-none-eabi-size), and the
worst-case stack of ``<prefix>_step`` from gcc's call-graph and stack usage output
(``-fcallgraph-info=su``), so the numbers are what the linker will place, not estimates.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgegru.codegen.render import Rendered, render
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import run_tool
from edgegru.quant.activations import SIGMOID_TABLE
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.kernels import LAYOUT

FOOTPRINT_OPT = "-Os"  # what size-conscious firmware builds use; also reported
SLACK_FLASH = 2048
SLACK_STACK = 512


@dataclass(frozen=True)
class Sizes:
    """The four sizes a model's C costs on a core; flash and RAM follow from them."""

    code: int  # machine code of the model's functions
    constants: int  # weights, biases, multipliers, tables (.rodata)
    state: int  # sizeof(<prefix>_state_t), owned by the caller
    stack: int  # worst-case stack of <prefix>_step, scratch buffers included

    @property
    def flash(self) -> int:
        return self.code + self.constants

    @property
    def ram(self) -> int:
        return self.state + self.stack

    def sizes(self) -> dict[str, int]:
        """The four sizes alone, to build another record of them (a search trial's)."""
        return {"code": self.code, "constants": self.constants, "state": self.state, "stack": self.stack}


@dataclass(frozen=True)
class Footprint(Sizes):
    """Bytes of flash and RAM one model costs on a core, and how they were measured."""

    cpu: str
    opt: str
    weight_bytes: int
    const_bytes: int

    def as_dict(self) -> dict[str, int | str]:
        return {
            "cpu": self.cpu,
            "opt": self.opt,
            "flash_bytes": self.flash,
            "code_bytes": self.code,
            "constant_bytes": self.constants,
            "ram_bytes": self.ram,
            "state_bytes": self.state,
            "stack_bytes": self.stack,
        }

    def table(self) -> str:
        return (
            f"flash {self.flash} B (code {self.code}, constants {self.constants}); "
            f"RAM {self.ram} B (state {self.state}, step stack {self.stack}) on {self.cpu} {self.opt}"
        )


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_STACK = re.compile(r"(\d+) bytes \((static|dynamic|dynamic,bounded)\)")


def _worst_stack(ci_text: str, root: str) -> int:
    """Deepest stack from ``root`` through gcc's call graph (.ci file)."""
    frames: dict[str, int] = {}
    for title, label in _NODE.findall(ci_text):
        found = _STACK.search(label.replace("\\n", " "))
        frames[title] = int(found.group(1)) if found else 0
        if found and found.group(2) == "dynamic":
            raise EdgeGruError(f"{title} has an unbounded stack frame")
    calls: dict[str, list[str]] = {}
    for source, dest in _EDGE.findall(ci_text):
        calls.setdefault(source, []).append(dest)

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in seen:
            raise EdgeGruError(f"recursion through {name} in the generated C")
        return frames.get(name, 0) + max((depth(c, seen | {name}) for c in calls.get(name, [])), default=0)

    roots = [t for t in frames if t == root or t.endswith(":" + root)]
    if not roots:
        raise EdgeGruError(f"no {root} in the call graph")
    return depth(roots[0], frozenset())


def measure_footprint(
    qm: QuantizedModel,
    cpu: str,
    prefix: str = "model",
    opt: str = FOOTPRINT_OPT,
) -> Footprint:
    """Render the model in the core's layout, then measure it as :func:`measure_sources` does."""
    rendered = render(qm, prefix, LAYOUT)
    with tempfile.TemporaryDirectory(prefix="edgegru-src-") as tmp:
        rendered.write(Path(tmp))
        return measure_sources(Path(tmp), rendered, cpu, prefix, opt)


def measure_sources(
    sources: Path, rendered: Rendered, cpu: str, prefix: str = "model", opt: str = FOOTPRINT_OPT
) -> Footprint:
    """Compile the model's C in ``sources`` alone for ``cpu`` and read its sizes.

    The export measures the very files it is about to write this way; the objects go to
    a scratch directory so that ``sources`` holds only what the user receives.
    """
    core = get_core(cpu)
    with tempfile.TemporaryDirectory(prefix="edgegru-size-") as tmp:
        d = Path(tmp)
        probe = d / "state_size.c"
        probe.write_text(
            f'#include "{prefix}.h"\nconst unsigned edgegru_state_size = sizeof({prefix}_state_t);\n'
        )
        obj = d / f"{prefix}.o"
        flags = [*core.gcc_flags, "-std=c99", opt, "-ffunction-sections", "-fdata-sections", f"-I{sources}"]
        run_tool(
            [
                "arm-none-eabi-gcc",
                *flags,
                "-fcallgraph-info=su",
                "-c",
                str(sources / f"{prefix}.c"),
                "-o",
                str(obj),
            ],
            f"compile the model for {cpu}",
        )
        state_obj = d / "state_size.o"
        run_tool(["arm-none-eabi-gcc", *flags, "-c", str(probe), "-o", str(state_obj)], "size the state")
        code, constants = _code_and_constants(obj)
        state = _read_const_u32(state_obj, "edgegru_state_size")
        stack = _worst_stack((d / f"{prefix}.ci").read_text(), f"{prefix}_step")
    return Footprint(
        code=code,
        constants=constants,
        state=state,
        stack=stack,
        cpu=cpu,
        opt=opt,
        weight_bytes=rendered.weight_bytes,
        const_bytes=rendered.const_bytes,
    )


def _code_and_constants(obj: Path) -> tuple[int, int]:
    """(code, constants) bytes of an object file: .text* and .rodata* + .data* sections.

    Read from ``arm-none-eabi-size -A``; with -ffunction-sections and -fdata-sections
    every function and array has its own section.
    """
    out = run_tool(["arm-none-eabi-size", "-A", str(obj)], "measure the footprint")
    code = constants = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            name, size = parts[0], int(parts[1])
            if name.startswith(".text"):
                code += size
            elif name.startswith((".rodata", ".data")):
                constants += size
    return code, constants


def _read_const_u32(obj: Path, symbol: str) -> int:
    out = run_tool(["arm-none-eabi-objdump", "-s", "-j", f".rodata.{symbol}", str(obj)], f"read {symbol}")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{4}", parts[0]):
            return int.from_bytes(bytes.fromhex(parts[1]), "little")
    raise EdgeGruError(f"cannot read {symbol} from {obj}")


def footprint_limits(qm: QuantizedModel, fp: Footprint) -> tuple[int, int]:
    """The limits a footprint is held to: flash <= weights + consts + 2 KB; RAM <= state + 6H + 512."""
    table = SIGMOID_TABLE.size * 2  # the activation table counts against the 2 KB, like the code
    flash_limit = fp.weight_bytes + fp.const_bytes - table + SLACK_FLASH
    ram_limit = fp.state + 6 * max(qm.hidden_sizes) + SLACK_STACK
    return flash_limit, ram_limit


def check_budget(fp: Footprint, flash_budget: int | None, ram_budget: int | None, qm: QuantizedModel) -> None:
    """Refuse an export that does not fit, saying by how much and what to shrink."""
    hints = "shrink the hidden size or use fewer layers"
    if flash_budget is not None and fp.flash > flash_budget:
        raise EdgeGruError(
            f"model needs {fp.flash} bytes of flash, {fp.flash - flash_budget} over the "
            f"--flash-budget of {flash_budget} on {fp.cpu}: {hints}"
        )
    if qm.state_bits == 16:
        hints += ", or use int8 state (quantize --state-bits 8)"
    if ram_budget is not None and fp.ram > ram_budget:
        raise EdgeGruError(
            f"model needs {fp.ram} bytes of RAM (state {fp.state} + stack {fp.stack}), "
            f"{fp.ram - ram_budget} over the --ram-budget of {ram_budget} on {fp.cpu}: {hints}"
        )

"""An emulated Raspberry Pi: arm64 Debian bookworm run by qemu-aarch64-static.

Why emulate: the promise that an int8 model gives the same bits on a Pi as on
the machine where it was verified can only be checked by running the Pi's own
binaries (LiteRT's and NumPy's aarch64 wheels, gcc's aarch64 code). qemu-user
runs them on x86 in seconds, with no board and no VM image.

The root, built once and cached under ``~/.cache/edgegru/pi-root-<hash>`` (the
hash covers the recipe, :func:`recipe`, so a new recipe or a new LiteRT here
builds a new root; a root without its ``recipe.json``, written last, is
incomplete and rebuilt):

* ``mmdebstrap --variant=extract`` of python3.11 and libstdc++6 from the Debian
  mirror named in this machine's apt sources (read at run time);
* the aarch64 cp311 wheels of numpy and ai-edge-litert, at the versions
  installed here, so that both sides run the same LiteRT;
* byte-compiled, so that each emulated start-up does not recompile the stdlib;
* one view per board (``pi4``, ``pi5``): symlinks to the root plus the board's
  own ``proc/cpuinfo``.

The traps this handles:

* qemu-user shows the guest the host's x86 ``/proc/cpuinfo`` (it is looked up
  in the ``-L`` directory first), and LiteRT segfaults on creating an
  Interpreter when it cannot parse it: each view holds the Pi's.
* QEMU's default CPU model ``max`` reports SME; XNNPACK then takes SME code
  paths for int8 that give wrong results under QEMU 7.2 (up to 151 LSB off from
  the first step; exact again with ``max,sme=off``). No Pi has SME: runs always
  use the board's core, ``cortex-a72`` (Pi 4) or ``cortex-a76`` (Pi 5).
* The guest must see no host Python packages (torch above all): python runs
  with ``-S`` (no site directories) in an empty environment, with only the
  root's wheels and a fresh copy of the edgegru package on PYTHONPATH.

The generated C needs no root: it is cross-compiled statically with
aarch64-linux-gnu-gcc and run by qemu-aarch64-static on the board's core.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.codegen.export import layout_for
from edgegru.core.errors import EdgeGruError, run_reporting
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host_bench import run_c_benchmark, time_c
from edgegru.targets.verify import VerifyReport, random_stimulus, verify_with, write_sources
from edgegru.tflite.exporter import export_tflite

QEMU = "qemu-aarch64-static"
CROSS_CC = "aarch64-linux-gnu-gcc"
MMDEBSTRAP = "mmdebstrap"
INSTALL_HINTS = {
    QEMU: "apt-get install qemu-user-static",
    MMDEBSTRAP: "apt-get install mmdebstrap",
    CROSS_CC: "apt-get install gcc-aarch64-linux-gnu",
}

SUITE = "bookworm"  # the Debian base of Raspberry Pi OS (64-bit) bookworm
DEBIAN_PACKAGES = ("python3.11", "libstdc++6")
GUEST_PYTHON = (3, 11)
WHEELS = ("numpy", "ai-edge-litert")
WHEEL_PLATFORMS = (
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_28_aarch64",
)
RECIPE_VERSION = 1
C_LAYOUT = layout_for("c99")  # the host layout: the Pi is an application processor, not a Cortex-M


@dataclass(frozen=True)
class Board:
    """A Raspberry Pi model: the QEMU (and gcc -mcpu) core and what its /proc/cpuinfo says."""

    name: str
    title: str
    cpu: str
    cpu_variant: int
    cpu_part: int
    cpu_revision: int
    features: str
    revision: str

    def cpuinfo(self) -> str:
        """/proc/cpuinfo as the board's Raspberry Pi OS kernel prints it (4 cores)."""
        core = (
            "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\n"
            "CPU architecture: 8\nCPU variant\t: {v:#x}\nCPU part\t: {p:#05x}\n"
            "CPU revision\t: {r}\n\n"
        )
        cores = "".join(
            core.format(i=i, f=self.features, v=self.cpu_variant, p=self.cpu_part, r=self.cpu_revision)
            for i in range(4)
        )
        return f"{cores}Revision\t: {self.revision}\nModel\t\t: {self.title}\n"


BOARDS = {
    "pi4": Board(
        "pi4", "Raspberry Pi 4 Model B Rev 1.4", "cortex-a72", 0x0, 0xD08, 3,
        "fp asimd evtstrm crc32 cpuid", "c03114",
    ),
    "pi5": Board(
        "pi5", "Raspberry Pi 5 Model B Rev 1.0", "cortex-a76", 0x4, 0xD0B, 1,
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
        "dcpop asimddp", "d04170",
    ),
}  # fmt: skip


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise EdgeGruError(f"board {name!r}: expected one of {', '.join(BOARDS)}")
    return BOARDS[name]


def require_tools(*tools: str) -> None:
    """EdgeGruError naming every missing tool and the package that provides it."""
    missing = [f"{t} ({INSTALL_HINTS[t]})" for t in tools if shutil.which(t) is None]
    if missing:
        raise EdgeGruError(f"the emulated Raspberry Pi needs tools not found on PATH: {', '.join(missing)}")


def qemu_command(board: Board) -> list[str]:
    """qemu-aarch64-static on the board's core (never the default ``max``: see the module doc)."""
    return [QEMU, "-cpu", board.cpu]


# The Debian mirror ------------------------------------------------------------------


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


# The root ------------------------------------------------------------------------------


def recipe() -> dict[str, Any]:
    """Everything that decides the root's content; its hash names the cache directory."""
    wheels = {}
    for name in WHEELS:
        try:
            wheels[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise EdgeGruError(
                f"{name} is not installed here: pip install 'edgegru[tflite]' (the emulated Pi "
                "installs the same version, to compare like with like)"
            ) from None
    return {
        "recipe_version": RECIPE_VERSION,
        "suite": SUITE,
        "architecture": "arm64",
        "debian_packages": list(DEBIAN_PACKAGES),
        "python": "{}.{}".format(*GUEST_PYTHON),
        "wheels": wheels,
        "wheel_platforms": list(WHEEL_PLATFORMS),
        "cpuinfo": {name: board.cpuinfo() for name, board in BOARDS.items()},
    }


def cache_dir() -> Path:
    """Where roots are kept: $XDG_CACHE_HOME/edgegru, else ~/.cache/edgegru."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgegru"


@dataclass(frozen=True)
class PiRoot:
    """A built root: ``root/`` (the Debian tree), one view per board, ``recipe.json``."""

    path: Path

    @property
    def tree(self) -> Path:
        return self.path / "root"

    @property
    def site(self) -> Path:
        return self.tree / "opt" / "site"

    @property
    def python(self) -> Path:
        return self.tree / "usr" / "bin" / "python{}.{}".format(*GUEST_PYTHON)

    def view(self, board: Board) -> Path:
        return self.path / board.name

    def is_complete(self, spec: dict[str, Any]) -> bool:
        marker = self.path / "recipe.json"
        try:
            return marker.is_file() and json.loads(marker.read_text()) == spec
        except (OSError, json.JSONDecodeError):
            return False


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_root(log: Callable[[str], None] = _log) -> PiRoot:
    """The cached root for the current recipe, built first if missing or incomplete."""
    spec = recipe()
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    cache = cache_dir()
    pi = PiRoot(cache / f"pi-root-{key}")
    if pi.is_complete(spec):
        return pi
    require_tools(QEMU, MMDEBSTRAP)
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f"pi-root-{key}.lock"):
        if pi.is_complete(spec):  # another process built it while we waited
            return pi
        start = time.perf_counter()
        log(f"building the emulated Raspberry Pi root in {pi.path} (once) ...")
        building = Path(tempfile.mkdtemp(prefix=f".pi-root-{key}-", dir=cache))
        try:
            _build(PiRoot(building), spec, log)
            if pi.path.exists():
                shutil.rmtree(pi.path)
            building.rename(pi.path)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        log(f"emulated Raspberry Pi root ready in {time.perf_counter() - start:.0f} s")
    return pi


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so parallel test workers build a root once between them."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build(pi: PiRoot, spec: dict[str, Any], log: Callable[[str], None]) -> None:
    mirror = apt_mirror()
    log(f"  mmdebstrap {SUITE} arm64 from {mirror}")
    run_tool(
        [
            MMDEBSTRAP,
            "--variant=extract",
            "--architectures=arm64",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            SUITE,
            str(pi.tree),
            mirror,
        ],
        f"build the {SUITE} arm64 root from {mirror}",
        timeout=1800,
    )
    wheels = [f"{name}=={version}" for name, version in spec["wheels"].items()]
    log(f"  pip install aarch64 wheels: {' '.join(wheels)}")
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    tag = "cp{}{}".format(*GUEST_PYTHON)
    run_tool(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
         str(pi.site), "--only-binary=:all:", *platforms, "--python-version", spec["python"],
         "--implementation", "cp", "--abi", tag, *wheels],
        "download the aarch64 wheels",
        timeout=1800,
    )  # fmt: skip
    _compile_bytecode(pi)
    for board in BOARDS.values():
        view = pi.view(board)
        view.mkdir()
        for entry in pi.tree.iterdir():
            if entry.name != "proc":
                (view / entry.name).symlink_to(Path("..") / "root" / entry.name)
        (view / "proc").mkdir()
        (view / "proc" / "cpuinfo").write_text(board.cpuinfo())
    (pi.path / "recipe.json").write_text(json.dumps(spec, indent=1))


def _compile_bytecode(pi: PiRoot) -> None:
    """Byte-compile the stdlib and the wheels: seconds natively, ~20 s under emulation.

    A host Python of the guest's minor version writes the same .pyc files. The
    exit status is ignored because the stdlib ships some deliberately invalid
    test files; a file left uncompiled only costs start-up time.
    """
    dirs = [str(pi.tree / "usr" / "lib" / "python{}.{}".format(*GUEST_PYTHON)), str(pi.site)]
    if sys.version_info[:2] == GUEST_PYTHON:
        cmd = [sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs]
    else:
        cmd = [*qemu_command(BOARDS["pi4"]), "-L", str(pi.tree), str(pi.python), "-S"]
        cmd += ["-m", "compileall", "-q", *dirs]
    subprocess.run(cmd, capture_output=True, timeout=1800, check=False)


# Running on the emulated Pi ----------------------------------------------------------------


def run_python(
    args: Sequence[str],
    *,
    board: str = "pi4",
    stdin: str | None = None,
    timeout: float = 600,
    root: PiRoot | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the Pi's python3.11 with ``args`` under qemu; edgegru is importable there.

    The guest sees the root's stdlib, the root's wheels and a fresh copy of this
    edgegru package, nothing else (no site directories, an empty environment,
    the working directory is the copy's). Host files are reachable by their
    paths. ``stdin`` is sent as standard input (empty without it). The caller
    inspects the returned process (exit status, output).
    """
    pi = root or ensure_root()
    target = get_board(board)
    require_tools(QEMU)
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-") as stage:
        package = Path(__file__).resolve().parents[2]  # edgegru/, from edgegru/targets/pi
        shutil.copytree(package, Path(stage) / "edgegru", ignore=shutil.ignore_patterns("__pycache__"))
        env = {
            "PYTHONPATH": os.pathsep.join([str(pi.site), stage]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUTF8": "1",
        }
        cmd = [*qemu_command(target), "-L", str(pi.view(target)), str(pi.python), "-S", *args]
        # Without text to send, stdin is empty rather than the caller's terminal.
        feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        try:
            return subprocess.run(
                cmd, env=env, cwd=stage, capture_output=True, text=True, timeout=timeout, **feed
            )
        except subprocess.TimeoutExpired:
            raise EdgeGruError(
                f"emulated {target.name}: python did not finish within {timeout:.0f} s"
            ) from None


def cross_compile(sources: Sequence[Path], exe: Path, board: Board, opt: str = "-O2") -> None:
    """A static aarch64 executable for the board's core, with the strict warning flags."""
    cmd = [CROSS_CC, *STRICT_FLAGS, opt, f"-mcpu={board.cpu}", "-static", *map(str, sources)]
    run_tool([*cmd, "-o", str(exe)], "cross-compile the generated C for aarch64")


def verify_pi_c(
    qm: QuantizedModel,
    x: np.ndarray,
    *,
    board: str = "pi4",
    prefix: str = "model",
    opt: str = "-O2",
    workdir: Path | None = None,
) -> VerifyReport:
    """Cross-compile the generated C + harness, run it on the board's core, compare every value."""
    target = get_board(board)
    require_tools(CROSS_CC, QEMU)

    def build_and_run(directory: Path, input_path: Path) -> None:
        sources = write_sources(qm, directory, prefix, C_LAYOUT)
        exe = directory / "harness"
        cross_compile(sources, exe, target, opt)
        out = directory / "output.bin"
        run_tool(
            [*qemu_command(target), str(exe), str(input_path), str(out)],
            f"run the harness under {QEMU}",
        )

    return verify_with(qm, x, f"aarch64 {target.name} ({target.cpu}, {QEMU})", build_and_run, workdir)


# Benchmark ------------------------------------------------------------------------------------


# Interpreter.invoke alone, inputs set once: the interpreter's share of a runtime step.
# It reports in the runtime's --latency format, so that one parser reads both.
INVOKE_TIMER = """\
import statistics, sys, time
import numpy as np
from edgegru.tflite.stream import load_interpreter

interpreter = load_interpreter()(model_path=sys.argv[1], num_threads=1)
interpreter.allocate_tensors()
for detail in interpreter.get_input_details():
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    interpreter.invoke()
    times.append(time.perf_counter() - start)
median = statistics.median(times) * 1e6
print(f"latency: {len(times)} steps, median {median:.1f} us", file=sys.stderr)
"""


@dataclass(frozen=True)
class BenchRow:
    """µs per step of one backend on the emulated Pi and natively on this machine."""

    backend: str
    pi_us: float
    host_us: float


def pi_bench(
    *,
    board: str = "pi4",
    input_size: int = 6,
    hidden_sizes: Sequence[int] = (32,),
    steps: int = 2000,
    log: Callable[[str], None] = _log,
) -> list[BenchRow]:
    """Per-step cost of LiteRT (float32, int8 step models) and the generated C, Pi vs host.

    Method: LiteRT is timed twice per model, one thread, default op resolver
    (XNNPACK): by the runtime itself (``python -m edgegru.runtime --latency``, the
    median of StreamingModel.step over ``steps`` CSV rows: normalise, quantise,
    set the tensors, invoke, read back), and as Interpreter.invoke alone. The C is
    timed by the generated benchmark harness (int16 state, -O2, median of 7 runs)
    after the same sources were verified bit for bit on the emulated Pi. The same
    programs run natively here for comparison.

    What is measured is wall-clock time of QEMU's translated code, because
    qemu-user offers no instruction count here (the Debian static build has no
    TCG plugins). It is only indicative of a real Pi, for the microseconds and
    for the ratios alike: the slowdown is not uniform (about 8x for the scalar
    C, 15-30x for LiteRT, whose NEON kernels QEMU emulates with helper calls),
    so emulated ratios overstate LiteRT's cost next to the C. Hence the native
    column, and a real Pi for figures to quote.
    """
    target = get_board(board)
    if steps < 10:
        raise EdgeGruError(f"steps {steps}: expected at least 10")
    pi = ensure_root(log)
    model = random_model(input_size, list(hidden_sizes), "reset_after", head="classification", seed=0)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((16, 50, input_size))
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-bench-") as tmp:
        directory = Path(tmp)
        csv = directory / "steps.csv"
        lines = (",".join(f"{v:.6f}" for v in row) for row in rng.standard_normal((steps, input_size)))
        csv.write_text("\n".join(lines) + "\n")
        for dtype in ("float32", "int8"):
            log(f"timing LiteRT {dtype} ...")
            path = directory / f"{dtype}.tflite"
            export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
            runtime = ["-m", "edgegru.runtime", str(path), "--input", str(csv), "--latency"]
            invoke = ["-c", INVOKE_TIMER, str(path), str(steps)]
            rows.append(_time_python(f"LiteRT {dtype}: StreamingModel.step", runtime, board, pi))
            rows.append(_time_python(f"LiteRT {dtype}: Interpreter.invoke only", invoke, board, pi))
        log("verifying and timing the generated C ...")
        qm = quantize(model, calibrate(model, calibration))
        report = verify_pi_c(qm, random_stimulus(qm, 6, 64), board=board)
        if not report.ok:
            raise EdgeGruError(f"the generated C is not bit-exact on the emulated Pi: {report.first}")
        (directory / "pi").mkdir()
        (directory / "host").mkdir()
        compile_for_pi = functools.partial(cross_compile, board=target)
        pi_c = run_c_benchmark(qm, directory / "pi", compile_for_pi, qemu_command(target), 7, 2e7)
        host_c = time_c(qm, directory / "host", 7, 0.02, "gcc", ("-O2",))  # checked bit for bit too
        rows.append(BenchRow("generated C: <prefix>_step, int16 state, -O2", pi_c, host_c))
    return rows


def _time_python(name: str, args: list[str], board: str, pi: PiRoot) -> BenchRow:
    """Run a timing program on the emulated Pi and natively; each reports a median."""
    pi_proc = run_python(args, board=board, root=pi)
    host_proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    return BenchRow(name, _median_us(pi_proc), _median_us(host_proc))


def _median_us(proc: subprocess.CompletedProcess[str]) -> float:
    """The median from a ``latency: N steps, median X us`` line (the runtime's format)."""
    match = re.search(r"^latency: \d+ steps, median ([\d.]+) us", proc.stderr, re.M)
    if proc.returncode != 0 or match is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise EdgeGruError(f"a LiteRT timing run failed (exit {proc.returncode}): {tail[0]}")
    return float(match[1])


def format_bench(rows: Sequence[BenchRow], board: str) -> str:
    """The bench table (Markdown, also readable as text)."""
    target = get_board(board)
    c_pi, c_host = rows[-1].pi_us, rows[-1].host_us
    header = (
        f"| backend | emulated {target.name} ({target.cpu}) µs/step | x86 native µs/step "
        "| emulation slowdown | / C, emulated | / C, native |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r.backend} | {r.pi_us:.2f} | {r.host_us:.3f} | {r.pi_us / r.host_us:.0f}x "
            f"| {r.pi_us / c_pi:.1f}x | {r.host_us / c_host:.1f}x |"
        )
    return "\n".join(lines)


# Command line -----------------------------------------------------------------------------------


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="pi_command", required=True)
    commands.add_parser("setup", help="build (or find) the cached emulated Pi root and print its path")
    bench = commands.add_parser(
        "bench",
        help="per-step cost of LiteRT (float32, int8) and the generated C on the emulated Pi",
        description="Emulated timings are only indicative of a real Pi: QEMU slows "
        "SIMD-heavy LiteRT more than the scalar C, so the emulated ratios overstate LiteRT's "
        "cost. The native x86 figures are printed alongside.",
    )
    bench.add_argument("--board", choices=sorted(BOARDS), default="pi4", help="default pi4")
    bench.add_argument("--input-size", type=int, default=6, help="D (default 6)")
    bench.add_argument(
        "--hidden", default="32", help="comma-separated hidden sizes, one per layer (default 32)"
    )
    bench.add_argument("--steps", type=int, default=2000, help="steps LiteRT is timed over (default 2000)")


def add_pi_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``pi`` (``setup``, ``bench``) to an argparse subparsers object; run_pi executes it."""
    parser = subparsers.add_parser(
        "pi",
        help="the emulated Raspberry Pi (arm64 under qemu-user)",
        description="Build the emulated Raspberry Pi root, or benchmark LiteRT and the C on it.",
        epilog="examples:\n  edgegru pi setup\n  edgegru pi bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_commands(parser)
    return parser


def run_pi(args: argparse.Namespace) -> int:
    """Execute ``pi setup`` or ``pi bench``."""
    if args.pi_command == "setup":
        start = time.perf_counter()
        pi = ensure_root()
        print(f"{pi.path} ({time.perf_counter() - start:.1f} s)")
        return 0
    try:
        hidden = [int(h) for h in args.hidden.split(",")]
    except ValueError:
        raise EdgeGruError(f"--hidden {args.hidden!r}: expected comma-separated integers") from None
    rows = pi_bench(board=args.board, input_size=args.input_size, hidden_sizes=hidden, steps=args.steps)
    print(f"model: D={args.input_size}, hidden {hidden}, reset_after, 3-class head; one thread")
    print(
        "wall-clock medians; emulated figures are only indicative of a real Pi (QEMU slows "
        "SIMD-heavy LiteRT more than scalar C)\n"
    )
    print(format_bench(rows, args.board))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m edgegru.targets.pi.main setup|bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m edgegru.targets.pi.main", description=__doc__.splitlines()[0]
    )
    _add_commands(parser)
    prog = "python -m edgegru.targets.pi.main"
    return run_reporting(run_pi, parser.parse_args(argv), prog)


if __name__ == "__main__":
    sys.exit(main())

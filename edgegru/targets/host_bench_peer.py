"""The bench's float peer: the same model's GRU step in C++ on Eigen, checked before it is timed.

The peer (``templates/bench_eigen_peer.cpp.j2``) is what the fast float GRU libraries are
made of: Eigen with sizes fixed at compile time. It is compiled with the C++ compiler and
the bench's own optimisation flags and linked into the bench binary beside the generated C
(:mod:`edgegru.targets.host_bench_binary`), so that C and peer alternate in one process.
Eigen is a dependency of the bench alone: without its headers the peer is left out and the
bench says so in one line (:data:`EIGEN_MISSING`).

Before it is timed the peer runs the bench's inputs through its own binary and its outputs
are compared with the float64 reference (:mod:`edgegru.nn.float_reference`) within float32
tolerance: a peer that computes something else is refused, as a C that is not bit-exact is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from edgegru.codegen.render import environment
from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.float_reference import forward
from edgegru.nn.model import Model

# Where Debian's libeigen3-dev (and a source install) put the headers.
EIGEN_DIRS = (Path("/usr/include/eigen3"), Path("/usr/local/include/eigen3"))
EIGEN_MISSING = (
    "Eigen peer: not timed, Eigen 3 headers not found (apt install libeigen3-dev, or give --eigen DIR)"
)
# C++17 for `if constexpr` and fold expressions; NDEBUG drops Eigen's index assertions. No
# -Werror: at some sizes gcc 12 warns falsely inside Eigen and its own AVX-512 intrinsics
# (uninitialised variables, loop bounds), and the peer is a yardstick, not shipped code.
PEER_FLAGS = ("-std=c++17", "-DNDEBUG", "-Wall", "-Wextra")
# float32 arithmetic against float64 over the check's 64 steps: a one-off check of the default
# shapes (default flags, the build machine, 2026-12-06; the bench does not print it) saw at most
# 2.3e-7 (64 -> 64); 1e-4 leaves a wide margin and still refuses other weights or equations.
RTOL, ATOL = 1e-4, 1e-4


def find_eigen(dirs: tuple[Path, ...] | None = None) -> Path | None:
    """The first of ``dirs`` (default :data:`EIGEN_DIRS`) that holds ``Eigen/Core``, or None."""
    return next((d for d in dirs or EIGEN_DIRS if (d / "Eigen" / "Core").is_file()), None)


def render_peer(model: Model) -> str:
    """The peer's C++ for this model's sizes and variant (only numbers reach the source)."""
    layer_types = ", ".join(f"GruLayer<{layer.input_size}, {layer.hidden_size}>" for layer in model.layers)
    head_size = 0 if model.head is None else model.head.output_size
    return (
        environment()
        .get_template("bench_eigen_peer.cpp.j2")
        .render(
            version=__version__,
            reset_after="true" if model.variant == "reset_after" else "false",
            layer_types=layer_types,
            last_hidden=model.hidden_sizes[-1],
            head_size=head_size,
            input_size=model.input_size,
            output_size=head_size or model.hidden_sizes[-1],
        )
    )


def peer_weights(model: Model) -> bytes:
    """The weights file the peer loads (layout in the template's header comment)."""
    parts: list[np.ndarray] = []
    for layer in model.layers:
        hidden = layer.hidden_size
        parts += [
            layer.w_x.reshape(3 * hidden, -1).ravel(order="F"),
            layer.w_h.reshape(3 * hidden, hidden).ravel(order="F"),
            layer.b_x.ravel(),
            layer.b_h.ravel(),
        ]
    if model.head is not None:
        parts += [model.head.weight.ravel(order="F"), model.head.bias.ravel()]
    return np.concatenate(parts).astype("<f4").tobytes()


def normalised(model: Model, x: np.ndarray) -> np.ndarray:
    """Raw inputs (T, D) as the model's first layer sees them, float32."""
    if model.normalisation is not None:
        x = model.normalisation.apply(x.astype(np.float64))
    return np.asarray(x, np.float32)


def check_peer(exe: Path, weights: Path, model: Model, x: np.ndarray, directory: Path) -> None:
    """Run the peer of ``exe`` over normalised inputs ``x`` (T, D) and compare every step's
    output with the float reference; EdgeGruError at the first value out of tolerance."""
    steps = normalised(model, x)
    (directory / "peer_in.bin").write_bytes(steps.astype("<f4").tobytes())
    out_path = directory / "peer_out.bin"
    command = [str(exe), str(weights), "check-peer", str(directory / "peer_in.bin"), str(out_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise EdgeGruError(f"the Eigen peer's check run failed (exit {proc.returncode}): {detail}")
    trace = forward(model, steps.astype(np.float64), normalise=False)
    reference = (trace.outputs if trace.outputs is not None else trace.hidden[-1])[0]
    got = np.fromfile(out_path, "<f4")
    if got.size != reference.size:
        raise EdgeGruError(f"the Eigen peer wrote {got.size} outputs, expected {reference.size}")
    got = got.reshape(reference.shape)
    scale = max(1.0, float(np.abs(reference).max()))
    bad = np.argwhere(~np.isclose(got, reference, rtol=RTOL, atol=ATOL * scale))
    if bad.size:
        t, c = bad[0]
        raise EdgeGruError(
            f"the Eigen peer disagrees with the float reference at step {t}, output {c}: "
            f"{got[t, c]:.6g} vs {reference[t, c]:.6g}; it is not timed"
        )

"""``edgegru engine``: a quantised model's C engine library, to ship with the model.

``edgegru run MODEL.egru --engine c --library FILE.so`` then runs on a machine without a C
compiler (a Raspberry Pi): see :mod:`edgegru.engine.build`.
"""

from __future__ import annotations

import argparse

from edgegru.cli.common import command_parser, require_quantised
from edgegru.core.errors import EdgeGruError

ENGINE_TARGETS = ("host", "pi4", "pi5")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "engine",
        "build a quantised model's C engine library (for edgegru run --engine c --library)",
        "  edgegru engine bm-int8.egru --target pi4 -o libbm.so   # a Pi 4 or 5, no compiler needed there\n"
        "  edgegru engine bm-int8.egru -o libbm.so                # this machine (cc -march=native)\n"
        "  edgegru engine bm-int8.egru --target pi4 --count       # aarch64 instructions per step",
    )
    p.add_argument("model", metavar="MODEL.egru", help="a quantised model (edgegru quantize)")
    p.add_argument("-o", "--output", metavar="FILE.so", help="the library to write")
    p.add_argument(
        "--count",
        action="store_true",
        help="pi4, pi5: count the aarch64 instructions of one step with unicorn (the bench extra), "
        "the int8 step and the raw-float step, over random inputs",
    )
    p.add_argument(
        "--target",
        default="host",
        choices=ENGINE_TARGETS,
        help="host (default): this machine's cc, -march=native; pi4: aarch64-linux-gnu-gcc "
        "-mcpu=cortex-a72, runs on a Pi 4 and 5; pi5: -mcpu=cortex-a76, a Pi 5 only",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.engine.build import build_library, toolchain_for

    if args.output is None and not args.count:
        raise EdgeGruError("give -o FILE.so (the library to write), --count, or both")
    if args.count and args.target == "host":
        raise EdgeGruError("--count counts aarch64 instructions: give --target pi4 or pi5")
    qm = require_quantised(args.model, "engine")
    toolchain = toolchain_for(args.target)
    if args.output is not None:
        path = build_library(qm, args.output, toolchain)
        print(
            f"wrote {path} ({path.stat().st_size} bytes): model {qm.fingerprint()}, "
            f"{toolchain.cc} {' '.join(toolchain.machine_flags)}"
        )
    if args.count:
        from edgegru.engine.icount import count_step_instructions

        print(f"aarch64 instructions per step ({toolchain.cc} {' '.join(toolchain.machine_flags)}, unicorn):")
        for count in count_step_instructions(qm, args.target):
            print(
                f"  {count.entry}: mean {count.mean:.1f}, min {count.min}, max {count.max} "
                f"over {count.steps} random steps"
            )
    return 0

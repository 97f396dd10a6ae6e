"""``edgegru verify``: compile the generated C (host, or Cortex-M under QEMU) and compare every
hidden state with the integer reference."""

from __future__ import annotations

import argparse

from edgegru.cli.common import add_stimulus_args, command_parser, require_quantised, stimulus
from edgegru.core.errors import EdgeGruError

VERIFY_CPU, VERIFY_SEQUENCES, VERIFY_STEPS = "cortex-m4", 64, 100  # the random input's defaults


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "verify",
        "compile the generated C and compare every hidden state with the integer reference",
        "  edgegru verify bm-int8.egru --target host\n"
        "  edgegru verify bm-int8.egru --target host BasicMotions_TEST.ts --sanitize\n"
        "  edgegru verify bm-int8.egru --target cortex-m --cpu cortex-m4 --emulate\n"
        "  edgegru verify bm-int8.egru --target cortex-m --cpu cortex-m55 --emulate --cc clang",
    )
    p.add_argument("model", help="quantised model file")
    p.add_argument("--target", default="host", choices=["host", "cortex-m"])
    p.add_argument("--cpu", default=VERIFY_CPU, help="Cortex-M core (default cortex-m4)")
    p.add_argument("--emulate", action="store_true", help="run the Cortex-M build under qemu-system-arm")
    p.add_argument(
        "--cc",
        default="gcc",
        choices=["gcc", "clang"],
        help="compiler of the model's C (default gcc; on cortex-m, arm-none-eabi-gcc links the firmware)",
    )
    p.add_argument("--sanitize", action="store_true", help="host: build with ASan and UBSan")
    add_stimulus_args(p, VERIFY_SEQUENCES, VERIFY_STEPS)
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.targets.host import verify_host

    qm = require_quantised(args.model, "verify")
    if args.target == "host" and (args.emulate or args.cpu != VERIFY_CPU):
        raise EdgeGruError("--emulate and --cpu apply to --target cortex-m, not host")
    if args.target == "cortex-m" and args.sanitize:
        raise EdgeGruError("--sanitize applies to --target host (ASan and UBSan run on the host)")
    x = stimulus(args, qm, VERIFY_SEQUENCES, VERIFY_STEPS)
    if args.target == "host":
        report = verify_host(qm, x, sanitize=args.sanitize, cc=args.cc)
    else:
        if not args.emulate:
            raise EdgeGruError("--target cortex-m needs --emulate (there is no board attached)")
        from edgegru.targets.cortex_m.verify import verify_cortex_m

        report = verify_cortex_m(qm, x, args.cpu, cc=args.cc)
    print(report.summary())
    return 0 if report.ok else 1

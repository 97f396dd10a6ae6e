"""``edgegru verify``: compile the generated C (host, or Cortex-M under QEMU) and compare every
hidden state with the integer reference."""

from __future__ import annotations

import argparse

from edgegru.cli.common import add_data_args, command_parser, load_data, require_quantised, seed_value
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
    p.add_argument(
        "--sequences",
        type=int,
        default=VERIFY_SEQUENCES,
        help="random sequences when no data is given (default 64)",
    )
    p.add_argument("--steps", type=int, default=VERIFY_STEPS, help="steps per random sequence (default 100)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the random sequences (default 0)")
    p.add_argument("--sanitize", action="store_true", help="host: build with ASan and UBSan")
    add_data_args(p, "input", required=False)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from edgegru.targets.host import verify_host
    from edgegru.targets.verify import random_stimulus

    qm = require_quantised(args.model, "verify")
    if args.target == "host" and (args.emulate or args.cpu != VERIFY_CPU):
        raise EdgeGruError("--emulate and --cpu apply to --target cortex-m, not host")
    if args.target == "cortex-m" and args.sanitize:
        raise EdgeGruError("--sanitize applies to --target host (ASan and UBSan run on the host)")
    data, _ = load_data(args)
    if data is not None and (args.sequences, args.steps) != (VERIFY_SEQUENCES, VERIFY_STEPS):
        raise EdgeGruError("--sequences and --steps shape the random input; with data they do not apply")
    if data is None:
        if args.sequences < 1 or args.steps < 1:
            raise EdgeGruError("--sequences and --steps must be >= 1")
        x = random_stimulus(qm, args.sequences, args.steps, args.seed)
    else:
        if data.input_size != qm.input_size:
            raise EdgeGruError(
                f"input data has {data.input_size} channels, the model expects {qm.input_size}"
            )
        x = data.x.astype(np.float32)  # float inputs exercise the on-device quantisation too
    if args.target == "host":
        report = verify_host(qm, x, sanitize=args.sanitize, cc=args.cc)
    else:
        if not args.emulate:
            raise EdgeGruError("--target cortex-m needs --emulate (there is no board attached)")
        from edgegru.targets.cortex_m.verify import verify_cortex_m

        report = verify_cortex_m(qm, x, args.cpu, cc=args.cc)
    print(report.summary())
    return 0 if report.ok else 1

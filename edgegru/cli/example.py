"""``edgegru example``: copy a board example out of the installed package, ready to build."""

from __future__ import annotations

import argparse

from edgegru.cli.common import command_parser


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "example",
        "copy a board example and the firmware harness it builds against into a new directory",
        "  edgegru example stm32f4 board/\n"
        "  edgegru export bm-int8.egru --target cortex-m --cpu cortex-m4 -o board/examples/stm32f4/model_c\n"
        "  make -C board/examples/stm32f4",
    )
    p.add_argument("name", help="the example (stm32f4: Nucleo-F401RE/F411RE/F446RE, QEMU's netduinoplus2)")
    p.add_argument("directory", help="a new or empty directory to copy it into")
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.targets.cortex_m.examples import copy_board_example

    example = copy_board_example(args.name, args.directory)
    print(f"wrote {args.directory}: the {args.name} example in {example}, with the firmware harness it uses")
    print(f"next: {example / 'README.md'} (export a model into it, then make)")
    return 0

"""Options that apply to some targets only: naming one for another target is refused.

``edgegru export`` and ``edgegru bench`` each take options that only some of their
``--target`` values read. Silently ignoring them would let a user believe, say, that
``--cpu`` shaped a c99 export, so an option given with a value other than its default
for a target that does not read it is an error naming the option.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from edgegru.core.errors import EdgeGruError


def refuse_options_of_other_targets(
    args: argparse.Namespace, applies_to: Mapping[str, tuple[str, ...]], defaults: Mapping[str, object]
) -> None:
    """``applies_to`` maps an option's dest to the targets that read it; ``defaults`` holds
    the parser defaults of those that have one (the others default to None)."""
    for name, targets in applies_to.items():
        value = getattr(args, name, None)
        if args.target not in targets and value is not None and value != defaults.get(name):
            shown = "DATA" if name == "data" else f"--{name.replace('_', '-')}"
            raise EdgeGruError(f"{shown} applies to --target {' or '.join(targets)}, not {args.target}")

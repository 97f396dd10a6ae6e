"""``python -m edgegru.cli``: the ``edgegru`` command."""

from edgegru.cli.main import main

raise SystemExit(main())

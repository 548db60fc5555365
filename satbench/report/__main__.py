"""``python -m satbench.report``: the same as ``satbench report``."""

from .command import main

raise SystemExit(main())

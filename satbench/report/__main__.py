"""``python -m satbench.report``: the same as ``satbench report``."""

from .build import main

raise SystemExit(main())

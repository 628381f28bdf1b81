"""``python -m saas_retention.generate``: regenerate every committed generated file (shipped SQL
per dialect, the metrics reference, the demo Superset bundle); see ``export.dist``."""

import sys

from saas_retention.export.dist import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

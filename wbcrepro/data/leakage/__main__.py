"""``python -m wbcrepro.data.leakage [DATA_ROOT]``: print both audits with both detectors as JSON.

The same record as ``wbcrepro data leakage --method both --out FILE`` (which writes it to a file);
without DATA_ROOT the data root is ``$WBCREPRO_DATA``, else ``./data``.
"""

from __future__ import annotations

import json
import sys

from wbcrepro.data.leakage.audits import run_audit
from wbcrepro.paths import data_root


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = data_root(args[0] if args else None)
    print(json.dumps(run_audit(root, "both", progress=True), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

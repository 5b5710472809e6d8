"""``python -m ml_lsp.runner --runs-dir DIR``: the runner process (see ``daemon``)."""

import sys

from ml_lsp.runner.daemon import main

sys.exit(main())

from ml_lsp.cli import main

raise SystemExit(main())

"""One module per ``ml-lsp`` subcommand; the list lives in ``ml_lsp.cli.SUBCOMMANDS``."""

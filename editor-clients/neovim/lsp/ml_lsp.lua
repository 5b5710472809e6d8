-- Neovim 0.11+ native config: put this folder on 'runtimepath' (or copy the file to
-- ~/.config/nvim/lsp/ml_lsp.lua) and call vim.lsp.enable("ml_lsp").
return {
  cmd = { "python3", "-m", "ml_lsp", "serve" },
  -- not the project folder: Python imports from the working folder first, and a cloned
  -- repository's files must not run when the server starts
  cmd_cwd = vim.fn.stdpath("cache"),
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", ".git" },
  init_options = {},
  settings = { ["ml-lsp"] = {} },
}

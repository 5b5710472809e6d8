-- nvim-lspconfig style: registers "ml_lsp" as a server config, then sets it up.
-- Works beside pyright/pylsp (both attach to Python buffers).
local configs = require("lspconfig.configs")
local util = require("lspconfig.util")

if not configs.ml_lsp then
  configs.ml_lsp = {
    default_config = {
      cmd = { "python3", "-m", "ml_lsp", "serve" },
      -- not the project folder: Python imports from the working folder first
      cmd_cwd = vim.fn.stdpath("cache"),
  -- not the project folder: Python imports from the working folder first, and a cloned
  -- repository's files must not run when the server starts
  cmd_cwd = vim.fn.stdpath("cache"),
      filetypes = { "python" },
      root_dir = util.root_pattern("pyproject.toml", "setup.py", "setup.cfg", ".git"),
      single_file_support = true,
      init_options = {},
      settings = { ["ml-lsp"] = {} },
    },
    docs = {
      description = "ml-lsp: tensor shapes, training-loop diagnostics and runs for PyTorch code. `pip install ml-lsp`",
    },
  }
end

require("lspconfig").ml_lsp.setup({
  -- cmd = { "/path/to/venv/bin/python", "-m", "ml_lsp", "serve" },
  -- settings = { ["ml-lsp"] = { select = { "SH" }, inlayHints = { shapes = true, metrics = true } } },
  on_attach = function(client, bufnr)
    vim.lsp.codelens.refresh()
    if vim.lsp.inlay_hint then vim.lsp.inlay_hint.enable(true, { bufnr = bufnr }) end -- 0.10+
  end,
})

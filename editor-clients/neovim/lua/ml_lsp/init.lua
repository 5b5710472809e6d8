-- ml-lsp for Neovim: require("ml_lsp").setup{}
-- Neovim 0.8+: vim.lsp.start (one client per root, reused across buffers).
-- Neovim 0.7:  vim.lsp.start_client + vim.lsp.buf_attach_client, reusing the client by root.
-- Neovim 0.10+: shape and metric inlay hints through vim.lsp.inlay_hint.
local M = {}

M.defaults = {
  -- Python that has ml-lsp installed; nil: $VIRTUAL_ENV/bin/python, $CONDA_PREFIX/bin/python, python3
  python = nil,
  -- full command; nil: { python, "-m", "ml_lsp", "serve" }
  cmd = nil,
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git" },
  -- the server's settings (same keys as VS Code's mlLsp.*, e.g.
  -- { select = {"SH"}, inlayHints = { shapes = true, metrics = true }, runsDir = ".ml-lsp/runs",
  --   devices = "auto", trust = "ask", inputs = {}, traceOnSave = false, logLevel = "info" })
  settings = {},
  on_attach = nil,
  capabilities = nil,
  codelens = true, -- refresh ▶ Run / ■ Stop lenses on BufEnter, InsertLeave, BufWritePost
  inlay_hints = true, -- 0.10+: enable inlay hints in attached buffers
  check_install = true, -- tell the user the pip command when ml_lsp is not importable
}

local config = vim.deepcopy(M.defaults)
local clients_by_root = {} -- 0.7 only: root_dir -> client id
local checked = {} -- python -> true once importable

-- The server, its probe and its children must not import from the workspace: Python puts
-- the working folder first on sys.path, so a cloned repository's tokenize.py or ml_lsp/
-- would run. The server starts in a folder of Neovim's own; the probe drops '' from sys.path.
local PATH_SAFE = "import sys; sys.path[:] = [p for p in sys.path if p]; "

function M.working_folder()
  local dir = vim.fn.stdpath("cache") .. "/ml-lsp"
  if vim.fn.isdirectory(dir) == 0 then vim.fn.mkdir(dir, "p", tonumber("700", 8)) end
  return dir
end

local function notify(msg, level)
  vim.notify("ml-lsp: " .. msg, level or vim.log.levels.INFO)
end

local function executable_in(dir)
  if dir and dir ~= "" then
    local py = dir .. "/bin/python"
    if vim.fn.executable(py) == 1 then return py end
  end
end

function M.python()
  return config.python or executable_in(os.getenv("VIRTUAL_ENV")) or executable_in(os.getenv("CONDA_PREFIX")) or "python3"
end

function M.cmd()
  return config.cmd or { M.python(), "-m", "ml_lsp", "serve" }
end

-- True when the server can start; otherwise tells the user the exact pip command.
function M.check_install()
  local cmd = M.cmd()
  local py = cmd[1]
  if checked[py] then return true end
  if vim.fn.executable(py) ~= 1 then
    notify(("interpreter '%s' not found; set python = '/path/to/python' in setup{}"):format(py), vim.log.levels.ERROR)
    return false
  end
  if cmd[2] ~= "-m" then checked[py] = true; return true end -- a custom command: trust it
  vim.fn.system({ py, "-c", PATH_SAFE .. "import ml_lsp" })
  if vim.v.shell_error ~= 0 then
    notify(("ml_lsp is not installed for %s. Install it with: %s -m pip install -U ml-lsp"):format(py, py),
      vim.log.levels.ERROR)
    return false
  end
  checked[py] = true
  return true
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local start = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  if vim.fs and vim.fs.find then -- 0.8+
    local found = vim.fs.find(config.root_markers, { path = start, upward = true })[1]
    if found then return vim.fs.dirname(found) end
    return start
  end
  for _, marker in ipairs(config.root_markers) do
    local hit = vim.fn.findfile(marker, start .. ";")
    if hit == "" then hit = vim.fn.finddir(marker, start .. ";") end
    if hit ~= "" then return vim.fn.fnamemodify(hit, ":p:h"):gsub("/%.git$", "") end
  end
  return start
end

local function on_attach(client, bufnr)
  if config.codelens then
    local group = vim.api.nvim_create_augroup("ml_lsp_codelens_" .. bufnr, { clear = true })
    vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost" }, {
      group = group, buffer = bufnr, callback = function() pcall(vim.lsp.codelens.refresh) end,
    })
    pcall(vim.lsp.codelens.refresh)
  end
  if config.inlay_hints and vim.lsp.inlay_hint then -- 0.10+
    local ok = pcall(vim.lsp.inlay_hint.enable, true, { bufnr = bufnr }) -- 0.10 final signature
    if not ok then pcall(vim.lsp.inlay_hint.enable, bufnr, true) end -- 0.10 nightlies
  end
  if config.on_attach then config.on_attach(client, bufnr) end
end

function M.client_config(bufnr)
  return {
    name = "ml-lsp",
    cmd = M.cmd(),
    cmd_cwd = M.working_folder(),
    root_dir = root_dir(bufnr),
    init_options = config.settings,
    -- answered to workspace/configuration (section "ml-lsp") and sent on start
    settings = { ["ml-lsp"] = config.settings },
    capabilities = config.capabilities or vim.lsp.protocol.make_client_capabilities(),
    on_attach = on_attach,
  }
end

-- Attach ml-lsp to a buffer (the FileType autocommand calls this).
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if config.check_install and not M.check_install() then return nil end
  local cfg = M.client_config(bufnr)
  if vim.lsp.start then -- 0.8+
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  local id = clients_by_root[cfg.root_dir]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(cfg)
    clients_by_root[cfg.root_dir] = id
  end
  if id then vim.lsp.buf_attach_client(bufnr, id) end
  return id
end

local function clients_of(bufnr)
  if vim.lsp.get_clients then return vim.lsp.get_clients({ bufnr = bufnr }) end -- 0.10+
  return vim.lsp.buf_get_clients(bufnr)
end

local function ml_client(bufnr)
  for _, c in pairs(clients_of(bufnr or 0)) do
    if c.name == "ml-lsp" then return c end
  end
end

-- Runs a server command (workspace/executeCommand) with the ml-lsp client of the buffer.
function M.execute(command, arguments, on_result)
  local c = ml_client(0)
  if not c then return notify("not attached to this buffer", vim.log.levels.WARN) end
  local req = vim.fn.has("nvim-0.11") == 1 and function(...) return c:request(...) end or c.request
  req("workspace/executeCommand", { command = command, arguments = arguments }, function(err, result)
    if err then return notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR) end
    if type(result) == "table" and result.runId then M.last_run = result.runId end
    if on_result then on_result(result) end
  end, 0)
end

local function run_id(arg)
  return (arg and arg ~= "") and arg or M.last_run
end

M.commands = {
  MlLspRun = function()
    vim.cmd("silent! update")
    M.execute("ml-lsp.run", { { uri = vim.uri_from_bufnr(0), args = {} } }, function(r)
      if type(r) == "table" and r.runId then notify("started run " .. r.runId) end
    end)
  end,
  MlLspStop = function(o) M.execute("ml-lsp.stop", { { runId = run_id(o.args) } }) end,
  MlLspRerun = function(o) M.execute("ml-lsp.rerun", { { runId = run_id(o.args) } }) end,
  MlLspShowRun = function(o) M.execute("ml-lsp.showRun", { { runId = run_id(o.args) } }) end,
  MlLspUntrust = function() M.execute("ml-lsp.untrust", {}) end,
  MlLspTraceShapes = function() M.execute("ml-lsp.traceShapes", { vim.uri_from_bufnr(0) }) end,
}

function M.setup(opts)
  config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  local group = vim.api.nvim_create_augroup("ml_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group, pattern = config.filetypes, callback = function(args) M.attach(args.buf) end,
  })
  for name, fn in pairs(M.commands) do
    vim.api.nvim_create_user_command(name, fn, { nargs = "?" })
  end
  -- buffers already open when setup runs (lazy loading)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(config.filetypes, vim.bo[b].filetype) then
      M.attach(b)
    end
  end
end

return M

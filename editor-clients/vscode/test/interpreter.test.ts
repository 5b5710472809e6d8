import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseInterpreter, classifyProbe, expandVariables, pipInstallCommand, serverArgs } from '../src/interpreter';

test('the mlLsp.interpreter setting wins over the Python extension', () => {
  assert.deepEqual(chooseInterpreter('/opt/py/bin/python', '/venv/bin/python'), { command: '/opt/py/bin/python', source: 'setting' });
});

test("the Python extension's interpreter is used when the setting is empty or blank", () => {
  assert.deepEqual(chooseInterpreter('', '/venv/bin/python'), { command: '/venv/bin/python', source: 'python-extension' });
  assert.deepEqual(chooseInterpreter('   ', '/venv/bin/python'), { command: '/venv/bin/python', source: 'python-extension' });
});

test('python3 when neither is set', () => {
  assert.deepEqual(chooseInterpreter(undefined, undefined), { command: 'python3', source: 'default' });
});

test('settings may use ${workspaceFolder}, ~ and ${env:...}', () => {
  const ctx = { workspaceFolder: '/ws', userHome: '/home/u', env: { VENV: '/v' } };
  assert.equal(chooseInterpreter('${workspaceFolder}/.venv/bin/python', undefined, ctx).command, '/ws/.venv/bin/python');
  assert.equal(expandVariables('~/py/bin/python', ctx), '/home/u/py/bin/python');
  assert.equal(expandVariables('${env:VENV}/bin/python', ctx), '/v/bin/python');
  assert.equal(expandVariables('${env:NOPE}/python', ctx), '/python');
  // no workspace open: the variable stays, so the "not found" message shows what was written
  assert.equal(expandVariables('${workspaceFolder}/py', {}), '${workspaceFolder}/py');
});

test('the server is started as python -m ml_lsp serve with the log file and user args', () => {
  assert.deepEqual(serverArgs('/logs/server.log'), ['-m', 'ml_lsp', 'serve', '--log-file', '/logs/server.log']);
  assert.deepEqual(serverArgs('/l', ['--log-level', 'debug']), ['-m', 'ml_lsp', 'serve', '--log-file', '/l', '--log-level', 'debug']);
  assert.deepEqual(serverArgs('/l', ['--log-file', '/mine']), ['-m', 'ml_lsp', 'serve', '--log-file', '/mine']);
});

test('the pip command names the exact interpreter, quoted when it has spaces', () => {
  assert.equal(pipInstallCommand('/venv/bin/python', 'linux'), '/venv/bin/python -m pip install -U ml-lsp');
  assert.equal(pipInstallCommand('/My Envs/py/bin/python', 'linux'), "'/My Envs/py/bin/python' -m pip install -U ml-lsp");
  assert.equal(pipInstallCommand('C:\\Program Files\\Python\\python.exe', 'win32'), '& "C:\\Program Files\\Python\\python.exe" -m pip install -U ml-lsp');
});

test('a missing ml_lsp module becomes the install offer with the exact command', () => {
  const out = classifyProbe({ command: '/venv/bin/python', source: 'python-extension' }, {
    exitCode: 1, stdout: '', stderr: "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'ml_lsp'\n",
  }, 'linux');
  assert.equal(out.kind, 'not-installed');
  assert.ok(out.kind === 'not-installed' && out.installCommand === '/venv/bin/python -m pip install -U ml-lsp');
  assert.match(out.message, /not installed for \/venv\/bin\/python \(the Python extension's active interpreter\)/);
});

test('an interpreter that does not exist is named, with the setting to change', () => {
  const out = classifyProbe({ command: '/nope/python', source: 'setting' }, { spawnError: 'ENOENT', exitCode: null, stdout: '', stderr: '' });
  assert.equal(out.kind, 'missing-interpreter');
  assert.match(out.message, /'\/nope\/python' \(setting mlLsp.interpreter\) was not found/);
});

test('an import that fails for another reason shows the last stderr line, not an install offer', () => {
  const out = classifyProbe({ command: 'python3', source: 'default' }, { exitCode: 1, stdout: '', stderr: 'Traceback...\nImportError: cannot import name x from pygls\n' });
  assert.equal(out.kind, 'broken');
  assert.match(out.message, /ImportError: cannot import name x from pygls/);
});

test('success reports the version', () => {
  assert.deepEqual(classifyProbe({ command: 'python3', source: 'default' }, { exitCode: 0, stdout: '0.1.0', stderr: '' }), { kind: 'ok', version: '0.1.0' });
});

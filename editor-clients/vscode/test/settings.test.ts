import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configurationReaction, DEFAULT_SERVER_SETTINGS, guardedValue, insideWorkspace, serverSettings } from '../src/settings';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

test('defaults when nothing is set; a trusted workspace answers trust "ask"', () => {
  assert.deepEqual(serverSettings(from({}), 'trusted'), { ...DEFAULT_SERVER_SETTINGS, trust: 'trusted' });
});

test('an explicit trust "untrusted" wins even in a trusted workspace', () => {
  assert.equal(serverSettings(from({ trust: 'untrusted' }), 'trusted').trust, 'untrusted');
});

test('every setting reaches the payload under the names the server reads', () => {
  const s = serverSettings(from({
    select: ['SH', 'TL001'], ignore: ['TL002'], 'inlayHints.shapes': false, 'inlayHints.metrics': false,
    runsDir: 'out/runs', devices: '0,1', trust: 'trusted', inputs: { Net: { x: 'B,784' } },
    traceOnSave: true, logLevel: 'debug', runNotifications: 'message',
  }), 'trusted');
  assert.deepEqual(s, {
    select: ['SH', 'TL001'], ignore: ['TL002'], inlayHints: { shapes: false, metrics: false },
    runsDir: 'out/runs', devices: '0,1', trust: 'trusted', inputs: { Net: { x: 'B,784' } },
    traceOnSave: true, logLevel: 'debug', runNotifications: 'message',
  });
});

test('an untrusted workspace forces trust "untrusted" and no trace on save', () => {
  const s = serverSettings(from({ trust: 'trusted', traceOnSave: true }), 'untrusted');
  assert.equal(s.trust, 'untrusted');
  assert.equal(s.traceOnSave, false);
});

test('values of the wrong type fall back to the default instead of reaching the server', () => {
  const s = serverSettings(from({ select: 42, 'inlayHints.shapes': 'no', trust: 'always', logLevel: 'loud', runsDir: '  ', inputs: ['x'] }), 'trusted');
  assert.deepEqual(s.select, []);
  assert.equal(s.inlayHints.shapes, true);
  assert.equal(s.trust, 'trusted');  // the invalid value fell back to "ask", which trust answers
  assert.equal(s.logLevel, 'info');
  assert.equal(s.runsDir, '.ml-lsp/runs');
  assert.deepEqual(s.inputs, {});
});

test('a comma-separated rule list written as a string is split', () => {
  assert.deepEqual(serverSettings(from({ select: 'SH, TL001,' }), 'trusted').select, ['SH', 'TL001']);
});

test('non-string shapes in inputs are dropped, the rest kept', () => {
  assert.deepEqual(serverSettings(from({ inputs: { M: { x: 'B,3', y: 5 }, N: 'oops' } }), 'trusted').inputs, { M: { x: 'B,3' } });
});

test('changing the interpreter restarts; changing a rule setting only notifies', () => {
  assert.equal(configurationReaction(k => k === 'interpreter'), 'restart');
  assert.equal(configurationReaction(k => k === 'serverArgs'), 'restart');
  assert.equal(configurationReaction(k => k === 'inlayHints.metrics'), 'notify');
  assert.equal(configurationReaction(() => false), 'none');
});

test("the TypeScript defaults are package.json's contributed defaults", async () => {
  const { readFileSync } = await import('node:fs');
  const props = JSON.parse(readFileSync(`${__dirname}/../package.json`, 'utf8')).contributes.configuration.properties;
  const fromPackage = serverSettings(key => props[`mlLsp.${key}`]?.default, 'trusted');
  assert.deepEqual(fromPackage, { ...DEFAULT_SERVER_SETTINGS, trust: 'trusted' });
});

test('with Workspace Trust turned off the trust setting goes through, so the server asks', () => {
  assert.equal(serverSettings(from({}), 'undecided').trust, 'ask');
  assert.equal(serverSettings(from({ trust: 'trusted' }), 'undecided').trust, 'trusted');
  assert.equal(serverSettings(from({ traceOnSave: true }), 'undecided').traceOnSave, true);
});

test("a workspace's .vscode/settings.json can lower trust but never raise it", () => {
  assert.equal(guardedValue('trust', { defaultValue: 'ask', workspaceValue: 'trusted' }), 'ask');
  assert.equal(guardedValue('trust', { defaultValue: 'ask', workspaceFolderValue: 'trusted' }), 'ask');
  assert.equal(guardedValue('trust', { defaultValue: 'ask', globalValue: 'trusted', workspaceValue: 'untrusted' }), 'untrusted');
  assert.equal(guardedValue('trust', { defaultValue: 'ask', globalValue: 'trusted', workspaceValue: 'ask' }), 'ask');
  assert.equal(guardedValue('trust', { defaultValue: 'ask', globalValue: 'trusted' }), 'trusted');
});

test("a workspace can turn trace on save off, never on", () => {
  assert.equal(guardedValue('traceOnSave', { defaultValue: false, workspaceValue: true }), false);
  assert.equal(guardedValue('traceOnSave', { defaultValue: false, globalValue: true, workspaceValue: false }), false);
  assert.equal(guardedValue('traceOnSave', { defaultValue: false, globalValue: true }), true);
});

test('a workspace can move its runs folder only inside itself', () => {
  const d = { defaultValue: '.ml-lsp/runs' };
  assert.equal(guardedValue('runsDir', { ...d, workspaceValue: 'out/runs' }), 'out/runs');
  for (const outside of ['/tmp/elsewhere', '../sibling/runs', 'a/../../up', '~/runs', 'C:\\runs', '\\\\host\\share']) {
    assert.equal(guardedValue('runsDir', { ...d, workspaceValue: outside }), '.ml-lsp/runs', outside);
  }
  assert.equal(guardedValue('runsDir', { ...d, globalValue: '/data/runs', workspaceValue: '/tmp/x' }), '/data/runs');
  assert.ok(insideWorkspace('runs/./a/../b') && !insideWorkspace(''));
});

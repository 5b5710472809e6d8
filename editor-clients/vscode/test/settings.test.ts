import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configurationReaction, DEFAULT_SERVER_SETTINGS, serverSettings } from '../src/settings';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

test('defaults when nothing is set; a trusted workspace answers trust "ask"', () => {
  assert.deepEqual(serverSettings(from({}), true), { ...DEFAULT_SERVER_SETTINGS, trust: 'trusted' });
});

test('an explicit trust "untrusted" wins even in a trusted workspace', () => {
  assert.equal(serverSettings(from({ trust: 'untrusted' }), true).trust, 'untrusted');
});

test('every setting reaches the payload under the names the server reads', () => {
  const s = serverSettings(from({
    select: ['SH', 'TL001'], ignore: ['TL002'], 'inlayHints.shapes': false, 'inlayHints.metrics': false,
    runsDir: 'out/runs', devices: '0,1', trust: 'trusted', inputs: { 'Net.forward': { x: 'B,784' } },
    traceOnSave: true, logLevel: 'debug',
  }), true);
  assert.deepEqual(s, {
    select: ['SH', 'TL001'], ignore: ['TL002'], inlayHints: { shapes: false, metrics: false },
    runsDir: 'out/runs', devices: '0,1', trust: 'trusted', inputs: { 'Net.forward': { x: 'B,784' } },
    traceOnSave: true, logLevel: 'debug',
  });
});

test('an untrusted workspace forces trust "untrusted" and no trace on save', () => {
  const s = serverSettings(from({ trust: 'trusted', traceOnSave: true }), false);
  assert.equal(s.trust, 'untrusted');
  assert.equal(s.traceOnSave, false);
});

test('values of the wrong type fall back to the default instead of reaching the server', () => {
  const s = serverSettings(from({ select: 42, 'inlayHints.shapes': 'no', trust: 'always', logLevel: 'loud', runsDir: '  ', inputs: ['x'] }), true);
  assert.deepEqual(s.select, []);
  assert.equal(s.inlayHints.shapes, true);
  assert.equal(s.trust, 'trusted');  // the invalid value fell back to "ask", which trust answers
  assert.equal(s.logLevel, 'info');
  assert.equal(s.runsDir, '.ml-lsp/runs');
  assert.deepEqual(s.inputs, {});
});

test('a comma-separated rule list written as a string is split', () => {
  assert.deepEqual(serverSettings(from({ select: 'SH, TL001,' }), true).select, ['SH', 'TL001']);
});

test('non-string shapes in inputs are dropped, the rest kept', () => {
  assert.deepEqual(serverSettings(from({ inputs: { M: { x: 'B,3', y: 5 }, N: 'oops' } }), true).inputs, { M: { x: 'B,3' } });
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
  const fromPackage = serverSettings(key => props[`mlLsp.${key}`]?.default, true);
  assert.deepEqual(fromPackage, { ...DEFAULT_SERVER_SETTINGS, trust: 'trusted' });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunList, ProgressBoard, runIdOf, runPickItems, statusText } from '../src/progress';

test('the status shows the most recent task with its percentage and message', () => {
  const b = new ProgressBoard();
  b.apply('ml-lsp/run/a1', { kind: 'begin', title: 'train.py', percentage: 0 });
  b.apply('ml-lsp/run/a1', { kind: 'report', message: 'step 40/100 loss 0.41', percentage: 40 });
  assert.equal(statusText(b.current(), b.size - 1), '$(sync~spin) train.py 40% · step 40/100 loss 0.41');
  b.apply('trace-1', { kind: 'begin', title: 'Tracing shapes' });
  assert.equal(statusText(b.current(), b.size - 1), '$(sync~spin) Tracing shapes (+1)');
  b.apply('trace-1', { kind: 'end' });
  assert.equal(b.current()?.token, 'ml-lsp/run/a1');
  b.apply('ml-lsp/run/a1', { kind: 'end', message: 'done' });
  assert.equal(b.current(), undefined);
  assert.equal(statusText(b.current(), 0), '');
});

test('a report before begin still creates the task; percentages are clamped', () => {
  const b = new ProgressBoard();
  b.apply(7, { kind: 'report', percentage: 140 });
  assert.equal(b.current()?.percentage, 100);
});

test('run ids come from progress tokens and command answers', () => {
  assert.equal(runIdOf('ml-lsp-run-20261124-054328-train_loop-379778'), '20261124-054328-train_loop-379778');
  assert.equal(runIdOf('ml-lsp/run/20260101-120000-train'), '20260101-120000-train');
  assert.equal(runIdOf('run:abc'), 'abc');
  assert.equal(runIdOf('trace-1'), undefined);
  assert.equal(runIdOf({ run_id: 'r1' }), 'r1');
  assert.equal(runIdOf({ runId: 'r2' }), 'r2');
  assert.equal(runIdOf({ run: { id: 'r3' } }), 'r3');
  assert.equal(runIdOf(null), undefined);
});

test('the run list from `ml-lsp runs --json` becomes quick-pick rows; active only for Stop', () => {
  const runs = parseRunList(JSON.stringify({ runs: [
    { id: 'b', script: '/w/train.py', state: 'running' },
    { id: 'a', script: '/w/train.py', state: 'succeeded' },
    { nope: 1 },
  ] }));
  assert.deepEqual(runs.map(r => r.id), ['b', 'a']);
  assert.deepEqual(runPickItems(runs, true), [{ label: '$(sync~spin) train.py', description: 'running · b', runId: 'b' }]);
  assert.equal(runPickItems(runs, false)[1].label, '$(pass) train.py');
  assert.deepEqual(parseRunList('ml-lsp: error'), []);
});

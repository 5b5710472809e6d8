import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finetuneRequest, needsInputs, sortCandidates } from '../src/finetuneInputs';

test('candidates: shallow first, run outputs last, a folder of .npy listed once as the folder', () => {
  const got = sortCandidates([
    { path: '.ml-lsp/runs/r1/last.pt', mtime: 0 },
    { path: 'ckpt/model.pt', mtime: 0 },
    { path: 'base.safetensors', mtime: 0 },
    { path: 'data/x/0.npy', mtime: 0 },
    { path: 'data/x/1.npy', mtime: 0 },
  ]);
  assert.deepEqual(got, ['base.safetensors', 'ckpt/model.pt', 'data/x', '.ml-lsp/runs/r1/last.pt']);
});

test('the request keeps what the code action passed, drops the hints, adds the picks', () => {
  assert.deepEqual(finetuneRequest({ uri: 'file:///w/net.py', line: 3, model: 'net.py:Net', init: '', suggestedCheckpoint: 'x.pt' }, 'a.pt', 'd.npz'),
    { uri: 'file:///w/net.py', line: 3, model: 'net.py:Net', init: '', checkpoint: 'a.pt', data: 'd.npz' });
});

test('from the palette: the active file and cursor line name the model', () => {
  assert.deepEqual(finetuneRequest({}, 'a.pt', 'd.npz', 'file:///w/net.py', 7),
    { checkpoint: 'a.pt', data: 'd.npz', uri: 'file:///w/net.py', line: 7 });
});

test('only the spec-writing call asks; running a spec (the ▶ Fine-tune lens) does not', () => {
  assert.equal(needsInputs({ uri: 'file:///w/net.py', line: 3 }), true);
  assert.equal(needsInputs({ name: 'net', run: true }), false);
  assert.equal(needsInputs({ checkpoint: 'a.pt', data: 'd.npz' }), false);
  assert.equal(needsInputs(undefined), true);
});

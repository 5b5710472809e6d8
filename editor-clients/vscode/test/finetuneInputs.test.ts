import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finetuneRequest, sortCandidates } from '../src/finetuneInputs';

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

test('the request keeps what the code action passed and adds the picks', () => {
  assert.deepEqual(finetuneRequest({ model: 'net.py:Net', line: 3, suggestedData: 'x' }, 'a.pt', 'd.npz', 'file:///w/net.py'),
    { checkpoint: 'a.pt', data: 'd.npz', uri: 'file:///w/net.py', model: 'net.py:Net', line: 3 });
});

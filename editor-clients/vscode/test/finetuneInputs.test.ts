import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finetuneRequest, needsInputs } from '../src/finetuneInputs';

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

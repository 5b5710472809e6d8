"""The recorder reports what a debugger would show after each statement of forward()."""

import subprocess
import sys
import textwrap

import torch
import torch.nn as nn

from ml_lsp.trace.recorder import ShapeRecorder, dtype_name, source_facts

MODEL = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    def double(t):
        y = t * 2
        return y


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.drop = nn.Dropout(0.0)
            self.lstm = nn.LSTM(4, 3, batch_first=True)
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

        def forward(self, x):
            x = self.fc(
                x)
            x = self.drop(x)
            for b in self.blocks:
                x = b(x)
            out = self.lstm(x.unsqueeze(1))
            o, (h, c) = self.lstm(x.unsqueeze(1))
            B, C = x.shape
            x += 1
            m = x > 0
            idx = torch.argmax(x, dim=-1)
            z = double(x)
            try:
                bad = x @ x
            except RuntimeError:
                pass
            top = x.max(dim=1)
            packed = nn.utils.rnn.pack_padded_sequence(x.unsqueeze(1), torch.tensor([1, 1]), batch_first=True)
            return z


    def growing(x, n):
        grow = x
        for k in range(n):
            grow = torch.cat([grow, x], dim=1)
        return grow
    ''')


def _run(tmp_path):
    path = tmp_path / "tagger.py"
    path.write_text(MODEL)
    namespace = {"__name__": "tagger"}
    exec(compile(MODEL, str(path), "exec"), namespace)
    model = namespace["Tagger"]().eval()
    with ShapeRecorder([str(path)]) as recorder:
        model(torch.randn(2, 8))
        namespace["growing"](torch.randn(2, 4), 3)
    return {(e["scope"], e["line"], e["name"]): e for e in recorder.entries()}


def test_records_each_binding_at_its_first_line(tmp_path):
    got = _run(tmp_path)
    assert got[("Tagger.forward", 19, "x")]["shape"] == [2, 4]     # multi-line call
    assert ("Tagger.forward", 20, "x") not in got                   # continuation line
    assert got[("Tagger.forward", 21, "x")]["shape"] == [2, 4]      # Dropout returns its input
    assert got[("Tagger.forward", 23, "x")]["count"] == 2           # loop body, twice
    assert got[("Tagger.forward", 25, "o")]["shape"] == [2, 1, 3]   # each unpacked target
    assert got[("Tagger.forward", 25, "h")]["shape"] == [1, 2, 3]
    assert got[("Tagger.forward", 25, "c")]["shape"] == [1, 2, 3]
    assert got[("Tagger.forward", 24, "out[1][0]")]["shape"] == [1, 2, 3]  # tuple in one name
    assert got[("Tagger.forward", 27, "x")]["shape"] == [2, 4]      # augmented assignment
    assert got[("Tagger.forward", 28, "m")]["dtype"] == "bool"
    assert got[("Tagger.forward", 29, "idx")] == {
        "path": str(tmp_path.resolve() / "tagger.py"), "scope": "Tagger.forward", "line": 29, "name": "idx", "shape": [2], "dtype": "long", "count": 1}
    assert got[("double", 6, "y")]["shape"] == [2, 4]               # helper function scope


def test_skips_non_tensors_raising_statements_and_merges_varying_dims(tmp_path):
    got = _run(tmp_path)
    names = {name for (_, _, name) in got}
    assert "B" not in names and "C" not in names  # ints are not tensors
    assert "bad" not in names                       # the statement raised
    assert got[("growing", 43, "grow")]["shape"] == [2, None]  # 8, 12, 16 over the loop
    assert got[("growing", 41, "grow")]["shape"] == [2, 4]


def test_torch_result_tuples_are_expanded_other_tuple_subclasses_are_not(tmp_path):
    got = _run(tmp_path)
    assert got[("Tagger.forward", 35, "top[0]")]["shape"] == [2]          # values
    assert got[("Tagger.forward", 35, "top[1]")]["dtype"] == "long"       # indices
    assert not [name for (_, _, name) in got if name.startswith("packed")]  # a PackedSequence


def test_other_files_and_torch_frames_are_not_recorded(tmp_path):
    got = _run(tmp_path)
    assert {scope for (scope, _, _) in got} == {"Tagger.forward", "double", "growing"}


def test_statement_lines_of_compound_headers():
    facts = source_facts("m.py", "for i in (1,\n          2):\n    x = (i +\n         1)\n")
    assert facts.statement_start == {1: 1, 2: 1, 3: 3, 4: 3}
    assert facts.bound == {1: ("i",), 3: ("x",)}


def test_dtype_names_follow_the_static_contract():
    assert dtype_name(torch.float32) == "float"
    assert dtype_name(torch.bfloat16) == "float"
    assert dtype_name(torch.int64) == "long"
    assert dtype_name(torch.bool) == "bool"
    assert dtype_name(torch.int32) == "int32"


def test_tracing_stops_when_the_block_ends(tmp_path):
    before = sys.gettrace()
    _run(tmp_path)
    assert sys.gettrace() is before


def test_importing_the_recorder_does_not_import_torch():
    code = "import sys, ml_lsp.trace.recorder; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_qualified_names_known_from_the_source_for_older_pythons():
    facts = source_facts("m.py", textwrap.dedent('''\
        class Net:
            @staticmethod
            def forward(x):
                def inner(y):
                    return y
                return inner(x)

        def helper(t):
            return t
        '''))
    assert facts.qualnames[("forward", 2)] == "Net.forward"   # first decorator line
    assert facts.qualnames[("forward", 3)] == "Net.forward"
    assert facts.qualnames[("inner", 4)] == "Net.forward.<locals>.inner"
    assert facts.qualnames[("helper", 8)] == "helper"


def test_module_level_statements_only_on_request(tmp_path):
    path = tmp_path / "script.py"
    path.write_text("import torch\nbatch = torch.zeros(3, 2)\n")
    code = compile(path.read_text(), str(path), "exec")
    with ShapeRecorder([str(path)]) as quiet:
        exec(code, {"__name__": "script"})
    with ShapeRecorder([str(path)], include_module=True) as loud:
        exec(code, {"__name__": "script"})
    assert quiet.entries() == []
    assert [(e["scope"], e["line"], e["name"], e["shape"]) for e in loud.entries()] == \
        [("<module>", 2, "batch", [3, 2])]


def test_a_loop_target_the_body_rebinds_is_recorded_as_the_iterator_gave_it(tmp_path):
    # diffusers' IP-adapter attention: `for current, scale in zip(states, scales):` then
    # `current = attn(current)`; when the loop ends the header runs once more and binds
    # nothing, so the body's (2, 16, 64) is not a value of the header's line
    source = textwrap.dedent('''\
        import torch


        def ip_adapter(states, proj):
            out = 0
            for current, scale in zip(states, [1.0, 0.5]):
                current = current @ proj
                out = out + current * scale
            else:
                done = out
            return out
        ''')
    path = tmp_path / "ip.py"
    path.write_text(source)
    namespace = {"__name__": "ip"}
    exec(compile(source, str(path), "exec"), namespace)
    with ShapeRecorder([str(path)]) as recorder:
        namespace["ip_adapter"]([torch.randn(2, 4, 32), torch.randn(2, 4, 32)], torch.randn(32, 64))
    got = {(e["line"], e["name"]): e for e in recorder.entries()}
    assert got[(6, "current")]["shape"] == [2, 4, 32] and got[(6, "current")]["count"] == 2
    assert got[(7, "current")]["shape"] == [2, 4, 64]
    assert got[(10, "done")]["shape"] == [2, 4, 64]

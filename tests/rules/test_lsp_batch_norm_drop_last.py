"""TR017 through a real client over stdio (pytest-lsp): the warning on the DataLoader whose
last batch holds one sample, its drop_last=True quick fix, and the warning gone once the fix
is applied."""

from __future__ import annotations

import textwrap

from lsprotocol import types

from test_lsp_diagnostics import apply_edits, diagnostics, open_doc, replace_doc, start, workspace  # noqa: F401

TRAIN = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = TensorDataset(torch.randn(513, 8), torch.randint(0, 2, (513,)))
    loader = DataLoader(data, batch_size=32, shuffle=True)

    for epoch in range(5):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
""")


async def test_last_batch_of_one_is_a_warning_with_a_drop_last_fix(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "train.py"
        uri = path.as_uri()
        open_doc(client, path, TRAIN)
        diags = await diagnostics(client, uri, lambda d: any(x.code == "TR017" for x in d))
        (found,) = [d for d in diags if d.code == "TR017"]
        assert found.range.start.line == 7 and found.severity == types.DiagnosticSeverity.Warning
        assert "513 = 16 * 32 + 1" in found.message
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=found.range,
            context=types.CodeActionContext(diagnostics=[found])))
        fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and "drop_last" in a.title)
        fixed = apply_edits(TRAIN, fix.edit.changes[uri])
        assert "loader = DataLoader(data, batch_size=32, shuffle=True, drop_last=True)" in fixed
        replace_doc(client, path, fixed, 2)
        await diagnostics(client, uri, lambda d: not any(x.code == "TR017" for x in d))
    finally:
        await client.shutdown_session()

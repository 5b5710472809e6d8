"""SH019 through a real client over stdio (pytest-lsp): the diagnostic on the line that
raises, its quick fix, and the diagnostic gone once the fix is applied."""

from __future__ import annotations

import textwrap

from lsprotocol import types

from test_lsp_diagnostics import apply_edits, diagnostics, open_doc, replace_doc, start, workspace  # noqa: F401

ATTENTION = textwrap.dedent("""\
    import torch
    import torch.nn as nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(64, 192)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(64, dim=2)
            q = q.view(B, T, 4, 16).transpose(1, 2)
            k = k.view(B, T, 4, 16).transpose(1, 2)
            v = v.view(B, T, 4, 16).transpose(1, 2)
            y = (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v
            return y.transpose(1, 2).view(B, T, C)
""")


async def test_view_after_transpose_is_an_error_with_a_reshape_fix(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "attention.py"
        uri = path.as_uri()
        open_doc(client, path, ATTENTION)
        diags = await diagnostics(client, uri, lambda d: any(x.code == "SH019" for x in d))
        (found,) = [d for d in diags if d.code == "SH019"]
        assert found.range.start.line == 15 and found.severity == types.DiagnosticSeverity.Error
        assert "view" in found.message and "non-contiguous" in found.message
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=found.range,
            context=types.CodeActionContext(diagnostics=[found])))
        fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and "reshape" in a.title)
        fixed = apply_edits(ATTENTION, fix.edit.changes[uri])
        assert "return y.transpose(1, 2).reshape(B, T, C)" in fixed
        replace_doc(client, path, fixed, 2)
        await diagnostics(client, uri, lambda d: not any(x.code == "SH019" for x in d))
    finally:
        await client.shutdown_session()

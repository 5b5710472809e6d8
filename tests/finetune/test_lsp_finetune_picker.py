"""What the fine-tune picker offers as the checkpoint, through a real client: the
workspace's weight files and the best/last checkpoints of earlier runs, never ml-lsp's own
metric files (a run's ``frames.bin``), in the server's own question and in the list a
client with a picker of its own (VS Code) asks for."""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types

from lsp_helpers import LspSession

MODEL = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        return self.fc(x)\n"


def make_workspace(ws: Path, runs: Path) -> None:
    ws.mkdir(exist_ok=True)
    (ws / "net.py").write_text(MODEL)
    (ws / "data.npz").write_bytes(b"")
    (ws / "weights").mkdir()
    (ws / "weights" / "encoder.bin").write_bytes(b"")
    (ws / "model.ckpt").write_bytes(b"")
    older, newer = runs / "20260101-000000-old", runs / "20260102-000000-new"
    (older / "checkpoints").mkdir(parents=True)
    newer.mkdir(parents=True)
    for run in (older, newer):
        for own in ("frames.bin", "spec.json", "status.json"):
            (run / own).write_bytes(b"")
    (older / "checkpoints" / "last.pt").write_bytes(b"")
    (older / "checkpoints" / "step-100.pt").write_bytes(b"")
    (newer / "best.safetensors").write_bytes(b"")
    (newer / "model.safetensors").write_bytes(b"")
    os.utime(older, (1_700_000_000, 1_700_000_000))
    os.utime(newer, (1_800_000_000, 1_800_000_000))


async def test_the_checkpoint_question_offers_weights_and_earlier_runs_best_and_last(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    runs = ws / ".ml-lsp" / "runs"
    make_workspace(ws, runs)
    async with LspSession(tmp_path, ws, init_options={"trust": "trusted"}) as client:
        asked = []

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def answer(params: types.ShowMessageRequestParams):
            asked.append([a.title for a in params.actions or []])
            return None  # dismissed: nothing is written

        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetune", arguments=[{"uri": (ws / "net.py").as_uri(), "line": 3}]))
        assert result is None
        expected = ["model.ckpt", "weights/encoder.bin",
                    ".ml-lsp/runs/20260102-000000-new/best.safetensors",
                    ".ml-lsp/runs/20260101-000000-old/checkpoints/last.pt"]
        assert asked == [expected]
        listed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetuneCandidates", arguments=[{"kind": "checkpoint"}]))
        assert listed["candidates"] == expected
        assert not (ws / "pyproject.toml").exists()


async def test_a_runs_folder_outside_a_dot_folder_offers_no_metric_files(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    make_workspace(ws, ws / "runs")
    async with LspSession(tmp_path, ws, init_options={"trust": "trusted", "runsDir": "runs"}) as client:
        listed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetuneCandidates", arguments=[{"kind": "checkpoint"}]))
        assert listed["candidates"] == ["model.ckpt", "weights/encoder.bin",
                                        "runs/20260102-000000-new/best.safetensors",
                                        "runs/20260101-000000-old/checkpoints/last.pt"]
        data = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetuneCandidates", arguments=[{"kind": "data"}]))
        assert data["candidates"] == ["data.npz"]

"""What the editor shows of a run, as a user reads it: hints on the lines that produced
them even when the script was saved again before the first metric, one set of numbers
(lens, hints and $/progress agree), smoothed rates and honest ETAs, progress from submit
with a start-up phase, a notification with actions at the end, and crash diagnostics that
lead with the user's own frames.

Runs that need no real training are made by hand (a run folder and frames written by the
runner's own RunFolder and FrameWriter), so that the numbers are exact; the rest run real
jobs through the runner."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest
from lsprotocol import types

from ml_lsp.runner import jobs
from ml_lsp.runner.frames import FrameWriter
from ml_lsp.runner.run_folder import RunFolder
from test_lsp_runs import hints, lenses, line_of, open_doc, run, run_diagnostics, start, until, workspace  # noqa: F401


def _edit(client, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def _count_requests(client) -> None:
    """Keep every showMessageRequest the server sends (answered with ``client.answer``, a
    title, or nothing); ``start`` counts the code lens refresh requests."""
    client.asked = []
    client.answer = None

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams):
        client.asked.append(params)
        return types.MessageActionItem(title=client.answer) if client.answer else None


# -- runs made by hand -------------------------------------------------------------------

LOOP = textwrap.dedent('''\
    import torch

    def main(model, loader, opt):
        for epoch in range(3):
            for xb, yb in loader:
                opt.zero_grad()
                loss = model(xb, yb)
                loss.backward()
                opt.step()

    if __name__ == "__main__":
        main(*setup())
    ''')


class HandRun:
    """A running run whose frames the test writes itself, with the times it chooses."""

    def __init__(self, ws: Path, text: str = LOOP):
        self.script = ws / "loop.py"
        self.script.write_text(text)
        self.text = text
        self.run = RunFolder.create(ws / ".ml-lsp" / "runs", jobs.make_spec(self.script, cwd=str(ws)))
        now = time.time()
        self.run.write_status(state="running", started=now - 60, heartbeat=now, heartbeat_timeout=3600)
        self.writer = FrameWriter(self.run.frames_path)
        self.writer.write("source", str(self.script), text)  # the job's text of its script
        self.t = now - 50
        self.path = str(self.script)

    def line(self, needle: str) -> int:
        return line_of(self.text, needle) + 1

    def batch(self, current: int, total: int = 40, batch_size: int = 64, seconds: float = 0.25) -> None:
        self.t += seconds
        self.writer.write("progress", current, total, "batch", self.path, self.line("for xb, yb"),
                          t=self.t, batch_size=batch_size)

    def epoch(self, current: int, total: int = 3) -> None:
        self.writer.write("progress", current, total, "epoch", self.path, self.line("for epoch"), t=self.t)

    def loss(self, value: float, step: int) -> None:
        self.writer.metric("loss", value, step, self.path, self.line("loss.backward()"))

    def flush(self) -> None:
        self.writer.flush()

    def end(self, state: str) -> None:
        self.writer.flush()
        self.run.write_status(state=state, ended=time.time())


async def test_lens_hints_and_progress_show_the_same_numbers_and_move_together(tmp_path, workspace):
    hand = HandRun(workspace)
    client = await start(tmp_path, workspace)
    _count_requests(client)
    try:
        uri = open_doc(client, hand.script)
        loss_line = hand.line("loss.backward()") - 1
        hand.epoch(1)
        hand.batch(1)
        hand.loss(2.5, 1)
        hand.flush()
        await until(lambda: _hint_has(client, uri, loss_line, "loss 2.5"))
        for value, step in ((1.25, 2), (0.625, 3)):
            refreshes = client.lens_refreshes
            hand.batch(step)
            hand.loss(value, step)
            hand.flush()
            shown = f"loss {value:g}"
            await until(lambda: _hint_has(client, uri, loss_line, shown))
            # the lens is asked for again (its title has the new loss), and $/progress says it too
            await until(lambda: client.lens_refreshes > refreshes, timeout=5)
            titles = [lens.command.title for lens in await lenses(client, uri)]
            assert any(shown in t for t in titles), titles
            message = await until(lambda: _last_progress_message(client, hand.run.id), timeout=5)
            assert shown in message, message
    finally:
        hand.end("stopped")
        await client.shutdown_session()


async def test_rates_are_smoothed_samples_per_second_follow_them_and_eta_needs_history(tmp_path, workspace):
    hand = HandRun(workspace)
    client = await start(tmp_path, workspace)
    try:
        uri = open_doc(client, hand.script)
        batch_line, epoch_line = hand.line("for xb, yb") - 1, hand.line("for epoch") - 1
        hand.epoch(1)
        hand.batch(1)
        hand.flush()
        first = await until(lambda: _hint_has(client, uri, batch_line, "batch 1/40"))
        assert "batch/s" not in first  # one frame is no rate
        epoch_hint = (await hints(client, uri)).get(epoch_line, "")
        assert "ETA" not in epoch_hint  # nor a time left
        for current in range(2, 11):  # 4 batches a second, 64 samples each
            hand.batch(current)
        hand.flush()
        label = await until(lambda: _hint_has(client, uri, batch_line, "batch 10/40"))
        assert "4 batch/s" in label and "256 samples/s" in label, label
        # the time left: 30 batches of this epoch and 80 of the next two, at 4 a second
        epoch_hint = await until(lambda: _hint_has(client, uri, epoch_line, "ETA"))
        assert epoch_hint == "epoch 1/3 · ETA 28 s", epoch_hint
        # one slow batch moves the smoothed rate, it does not make it (tqdm's smoothing);
        # a new epoch starts the batches again at 1 after a pause: neither resets the rate
        # nor turns it into seconds per batch
        hand.batch(11, seconds=2.5)
        hand.t += 5.0
        hand.epoch(2)
        for current in range(1, 7):
            hand.batch(current)
        hand.flush()
        label = await until(lambda: _hint_has(client, uri, batch_line, "batch 6/40"))
        rate = float(re.search(r"([\d.]+) batch/s", label).group(1))
        assert 2.0 < rate < 4.0, label
        samples = float(re.search(r"([\d.]+) samples/s", label).group(1))
        assert samples == pytest.approx(rate * 64, rel=0.02), label
        lens_title = next(lens.command.title for lens in await lenses(client, uri) if "epoch" in lens.command.title)
        eta = re.search(r"ETA (\S+ ?s|\S+m)", lens_title).group(1)
        assert f"ETA {eta}" in (await hints(client, uri))[epoch_line]  # the lens and the hint agree
        # stopped: no ETA anywhere, never "ETA 0 s"
        hand.end("stopped")
        titles = await until(lambda: _titles_with(client, uri, "stopped"))
        assert not any("ETA" in t for t in titles), titles
        assert not any("ETA" in h for h in (await hints(client, uri)).values())
    finally:
        await client.shutdown_session()


async def _hint_has(client, uri, line, text):
    label = (await hints(client, uri)).get(line) or ""
    return label if text in label else None


async def _titles_with(client, uri, text):
    titles = [lens.command.title for lens in await lenses(client, uri)]
    return titles if any(text in t for t in titles) else None


def _last_progress_message(client, run_id):
    reports = client.progress_reports.get(f"ml-lsp-run-{run_id}") or []
    messages = [r.message for r in reports if getattr(r, "message", None)]
    return messages[-1] if messages else None


# -- real runs -----------------------------------------------------------------------------

GATED = textwrap.dedent('''\
    import os, time
    open("ready", "w").close()  # compiled and running
    while not os.path.exists("go"):  # the test edits and saves this file meanwhile
        time.sleep(0.02)
    import torch
    from torch import nn

    def main():
        model = nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.randn(64, 4)
        for step in range(200):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
            loss.backward()
            opt.step()
            time.sleep(0.01)

    if __name__ == "__main__":
        main()
    ''')


async def test_hints_land_on_their_lines_when_the_script_is_saved_before_the_first_metric(tmp_path, workspace):
    """The job compiled the script as submitted; the user inserted lines above the loop and
    saved before the first metric arrived: the hints go on the lines that produced them."""
    script = workspace / "gated.py"
    script.write_text(GATED)
    client = await start(tmp_path, workspace)
    _count_requests(client)
    try:
        uri = open_doc(client, script)
        run_id = await run(client, uri)
        # started (the job read and compiled the file), now waiting for "go"
        await until(lambda: (workspace / "ready").exists(), timeout=60)
        edited = GATED.replace("def main():", "# two lines the user added\n# while it started\ndef main():")
        _edit(client, uri, 2, edited)
        script.write_text(edited)  # saved, as the editor does
        (workspace / "go").touch()
        loss_line = line_of(edited, "loss.backward()")
        label = await until(lambda: _hint_has(client, uri, loss_line, "loss "), timeout=90)
        shown = await hints(client, uri)
        assert re.match(r"loss \d", label), shown
        # (the static shape hint `loss: ()` is on the assignment; no metric hint is a line off)
        assert not any(k in shown and shown[k].startswith("loss ") for k in (loss_line - 1, loss_line - 2)), shown
        lr = await until(lambda: _hint_has(client, uri, line_of(edited, "opt.step()"), "lr "), timeout=30)
        assert lr.startswith("lr 0.01")
        assert jobs.resolve(run_id, workspace / ".ml-lsp" / "runs")
    finally:
        await client.shutdown_session()


async def _starting(client, uri):
    titles = [lens.command.title for lens in await lenses(client, uri)]
    return titles if any(t.startswith("starting") for t in titles) else None


async def test_progress_from_submit_says_it_is_importing_torch_and_the_lens_keeps_time(tmp_path, workspace):
    script = workspace / "gated.py"
    script.write_text(GATED)
    client = await start(tmp_path, workspace)
    _count_requests(client)
    try:
        uri = open_doc(client, script)
        run_id = await run(client, uri)
        token = f"ml-lsp-run-{run_id}"
        begin = (await until(lambda: client.progress_reports.get(token)))[0]
        assert isinstance(begin, types.WorkDoneProgressBegin) and begin.cancellable
        assert begin.title == "Run gated"
        titles = await until(lambda: _starting(client, uri), timeout=60)
        assert any(t.startswith("starting (importing torch…)") for t in titles), titles
        assert "starting (importing torch…)" in await until(lambda: _last_progress_message(client, run_id))
        # while it starts (seconds, no frames), the lens's time keeps moving
        refreshes = client.lens_refreshes
        first = next(t for t in titles if t.startswith("starting"))
        await until(lambda: client.lens_refreshes >= refreshes + 2, timeout=10)
        later = next(t for t in await until(lambda: _titles_with(client, uri, "starting")) if t.startswith("starting"))
        assert later != first, (first, later)
        (workspace / "go").touch()
        await until(lambda: _titles_with(client, uri, "running"), timeout=90)
    finally:
        await client.shutdown_session()


CRASH_IN_LIBRARY = textwrap.dedent('''\
    import torch
    from torch import nn


    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc(x)


    def main():
        head = Head()
        print(head(torch.randn(8, 64)))


    if __name__ == "__main__":
        main()
    ''')


async def test_a_crash_leads_with_the_users_frames_offers_library_frames_and_the_static_fix(tmp_path, workspace):
    script = workspace / "head.py"
    script.write_text(CRASH_IN_LIBRARY)
    client = await start(tmp_path, workspace)
    _count_requests(client)
    client.answer = "Show traceback"
    try:
        uri = open_doc(client, script)
        run_id = await run(client, uri)
        [crash] = await until(lambda: run_diagnostics(client, uri), timeout=90)
        assert crash.range.start.line == line_of(CRASH_IN_LIBRARY, "return self.fc(x)")
        rows = [(Path(r.location.uri).name, r.location.range.start.line, r.message) for r in crash.related_information]
        assert rows == [("head.py", line_of(CRASH_IN_LIBRARY, "    main()"), "in <module>"),
                        ("head.py", line_of(CRASH_IN_LIBRARY, "print(head("), "in main"),
                        ("head.py", line_of(CRASH_IN_LIBRARY, "return self.fc(x)"), "in forward")], rows

        # the notification: failed, with the exception, and what to do next
        asked = await until(lambda: client.asked, timeout=30)
        assert asked[0].type == types.MessageType.Error
        assert "failed" in asked[0].message and "RuntimeError" in asked[0].message and "head.py:11" in asked[0].message
        assert [a.title for a in asked[0].actions] == ["Show traceback", "Show log", "Rerun"]
        shown = await until(lambda: client.shown_documents)
        assert shown[-1].uri.endswith("stderr.log") and shown[-1].selection is not None
        log_lines = (workspace / ".ml-lsp" / "runs" / run_id / "stderr.log").read_text().splitlines()
        assert log_lines[shown[-1].selection.start.line].startswith("Traceback")

        # on the crash: the library frames on demand, and the static check's fix
        actions = await until(lambda: _actions(client, uri, crash), timeout=30)
        titles = [a.title for a in actions]
        show = next((a for a in actions if a.title.startswith("Show library frames")), None)
        assert show is not None, "\n".join(titles)
        fix = next(a for a in actions if "static check's fix" in a.title)
        assert "SH001" in fix.title and fix.edit is not None, titles
        assert re.fullmatch(rf"Show library frames \(\d+\) of run {run_id}", show.title), show.title
        # (pytest-lsp reads a code action holding only a command as a Command: run it by name)
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.showLibraryFrames", arguments=[{"runId": run_id, "shown": True}]))
        full = await until(lambda: [d for d in run_diagnostics(client, uri) if len(d.related_information) > 3])
        rows = [r.location.uri for r in full[0].related_information]
        assert all("site-packages" not in u for u in rows[:3]) and all("site-packages" in u for u in rows[3:])
    finally:
        await client.shutdown_session()


async def _actions(client, uri, crash):
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=crash.range,
        context=types.CodeActionContext(diagnostics=[crash])))
    actions = list(actions or [])
    return actions if any("static check's fix" in a.title for a in actions) else None


async def test_a_successful_run_says_so_and_rerun_starts_it_again(tmp_path, workspace):
    script = workspace / "quick.py"
    script.write_text('print("done")\n')
    client = await start(tmp_path, workspace)
    _count_requests(client)
    client.answer = "Rerun"
    try:
        uri = open_doc(client, script)
        run_id = await run(client, uri)
        asked = await until(lambda: client.asked, timeout=60)
        assert asked[0].type == types.MessageType.Info and "quick succeeded" in asked[0].message
        assert [a.title for a in asked[0].actions] == ["Show log", "Rerun"]
        runs = await until(lambda: [r for r in jobs.list_runs(workspace / ".ml-lsp" / "runs") if r.id != run_id])
        assert runs[0].spec()["rerun_of"] == run_id
    finally:
        client.answer = None
        await client.shutdown_session()

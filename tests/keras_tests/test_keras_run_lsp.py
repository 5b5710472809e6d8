"""A Keras script run from the editor, end to end over stdio: the ▶ Run lens sits on its
model.fit line, the ml-lsp.run command trains it for real (Keras 3 on the torch backend,
chosen by the bootstrap since TensorFlow is not installed), and the loss, the compiled
metric, the val_* metrics and the epoch progress show as an inlay hint on the fit line."""

from __future__ import annotations

import textwrap

import pytest

from test_lsp_runs import hints, lenses, line_of, open_doc, run, start, until

FIT = textwrap.dedent('''\
    import keras
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64, validation_split=0.2, verbose=0)
    ''')


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "fit_digits.py").write_text(FIT)
    yield ws
    import json
    import os
    import signal

    from ml_lsp.runner import jobs
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    runs_dir = ws / ".ml-lsp" / "runs"
    for folder in jobs.list_runs(runs_dir) if runs_dir.is_dir() else []:
        if folder.state() not in TERMINAL_STATES:
            jobs.stop(folder, runs_dir, grace=0.5, wait_for=5)
    try:
        os.kill(json.loads((runs_dir / "runner.json").read_text())["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


@pytest.mark.timeout(300)
async def test_fit_metrics_show_on_the_fit_line(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        uri = open_doc(client, workspace / "fit_digits.py")
        fit_line = line_of(FIT, "model.fit(")
        (lens,) = await lenses(client, uri)
        assert lens.command.title == "▶ Run" and lens.range.start.line == fit_line
        await run(client, uri)

        async def final_label():
            label = (await hints(client, uri)).get(fit_line) or ""
            return label if "val_loss" in label and "epoch 2/2" in label else None

        label = await until(final_label, timeout=240)
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert name in label, label
    finally:
        await client.shutdown_session()

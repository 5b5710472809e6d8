"""Keras `model.fit` under the run bootstrap (Keras 3, torch backend, on the CPU): the loss
and the compiled metric per batch and the val_* metrics per epoch land on the fit line, with
epoch and step progress; the user's own callback still runs."""

from __future__ import annotations

import textwrap

from ml_lsp.runner.frames import read_frames

from test_capture import bootstrap, line_of

FIT = textwrap.dedent('''\
    import keras
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x[:640] / 16.0
    y = y[:640]

    class Mine(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            open("user_callback_ran", "w").write("yes")

    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64, validation_split=0.2, verbose=0, callbacks=[Mine()])
    ''')


def test_fit_metrics_and_progress_land_on_the_fit_line(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(FIT)
    result = bootstrap(script, frames=tmp_path / "frames", timeout=300, env_extra={"KERAS_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "user_callback_ran").read_text() == "yes"
    frames = read_frames(tmp_path / "frames")
    fit_line = line_of(FIT, "model.fit(")
    metrics = [f for f in frames if f["kind"] == "metric" and f["line"] == fit_line]
    by_name: dict = {}
    for f in metrics:
        by_name.setdefault(f["name"], []).append(f["step"])
    # 640 * 0.8 = 512 training samples, 8 batches of 64 a epoch, 2 epochs
    assert sorted(set(by_name["loss"])) == list(range(1, 17))
    assert sorted(set(by_name["accuracy"])) == list(range(1, 17))
    assert sorted(by_name["val_loss"]) == [8, 16] and sorted(by_name["val_accuracy"]) == [8, 16]
    epochs = [(f["current"], f["total"]) for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"]
    assert epochs == [(1, 2), (2, 2)]
    steps = [f for f in frames if f["kind"] == "progress" and f["unit"] == "step"]
    assert steps[-1]["current"] == steps[-1]["total"] == 16
    assert {f["line"] for f in steps} == {fit_line}


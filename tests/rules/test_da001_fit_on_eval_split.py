from rules.ruletest import assert_clean, assert_flagged

WRONG = """
model.fit(x_train, y_train, epochs=10)
model.fit(x_test, y_test, epochs=10)  # <-
"""


def test_fit_on_test_split_is_flagged():
    assert_flagged(WRONG, "DA001", "x_test")


def test_validation_data_is_clean():
    assert_clean("model.fit(x_train, y_train, validation_data=(x_val, y_val))\n", "DA001")
    assert_clean("trainer.fit(model, train_loader, val_loader)\n", "DA001")


def test_torch_training_loop_over_val_loader_and_trainer_dataset():
    assert_flagged("""
    train_loader, val_loader = make_loaders()
    for x, y in val_loader:  # <-
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    """, "DA001")
    assert_flagged("""
    trainer = Trainer(model=model, args=args,
                      train_dataset=tokenized["test"])  # <-
    """, "DA001")


def test_a_test_split_name_alone_is_not_a_training_mistake():
    # A unit test's `test_data` is just a name when nothing around it is a training split.
    assert_clean("""
    def test_vectorizer():
        test_data = ["abc", "dea"]
        vect.fit(test_data)
    """, "DA001")

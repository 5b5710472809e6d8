from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
model = Net()
def validate(model, loader):
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            model(x)

for epoch in range(10):
    for x, y in train_loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    validate(model, val_loader)  # <-
"""


def test_eval_helper_in_training_loop_without_train_is_flagged():
    assert_flagged(WRONG, "TR007", "model.train()")


def test_direct_eval_call_is_flagged_and_train_at_top_is_clean():
    src = WRONG.replace("    validate(model, val_loader)  # <-", "    model.eval()  # <-")
    assert_flagged(src, "TR007")
    assert_clean(WRONG.replace("for epoch in range(10):\n", "for epoch in range(10):\n    model.train()\n"), "TR007")


def test_fix_calls_train_at_the_start_of_the_epoch():
    fixed = apply_fix(WRONG, "TR007", safe_only=True)
    assert "for epoch in range(10):\n    model.train()\n    for x, y in train_loader:" in fixed

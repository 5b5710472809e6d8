from rules.ruletest import assert_clean, assert_flagged

WRONG = """
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    optimizer.step()  # <-
"""


def test_step_without_backward_is_flagged():
    assert_flagged(WRONG, "TR002", "optimizer.step()", "never calls backward()")


def test_step_after_backward_is_clean():
    assert_clean(WRONG.replace("    optimizer.step()", "    loss.backward()\n    optimizer.step()"), "TR002")


def test_backward_through_amp_scaler_or_a_local_helper_is_clean():
    assert_clean("""
    for x, y in loader:
        scaler.scale(criterion(model(x), y)).backward()
        scaler.step(optimizer)
        scaler.update()
    """, "TR002")
    assert_clean("""
    def compute(model, x):
        loss = model(x).sum()
        loss.backward()
    for x in loader:
        compute(model, x)
        optimizer.step()
    """, "TR002")


def test_lbfgs_closure_is_clean():
    assert_clean("""
    for x in loader:
        optimizer.step(closure)
    """, "TR002")

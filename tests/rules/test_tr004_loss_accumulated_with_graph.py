from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
running_loss = 0.0
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    running_loss += loss  # <-
"""


def test_loss_accumulated_without_item_is_flagged():
    assert_flagged(WRONG, "TR004", "use loss.item()", "graph")


def test_item_is_clean():
    assert_clean(WRONG.replace("running_loss += loss  # <-", "running_loss += loss.item()"), "TR004")


def test_appending_the_tensor_is_flagged_and_no_grad_is_clean():
    assert_flagged("""
    losses = []
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss)  # <-
    """, "TR004")
    assert_clean("""
    total = 0
    with torch.no_grad():
        for x, y in val_loader:
            loss = criterion(model(x), y)
            total += loss
    """, "TR004")


def test_fix_adds_item():
    fixed = apply_fix(WRONG, "TR004", safe_only=True)
    assert "    running_loss += loss.item()\n" in fixed


def test_scaled_loss_is_flagged_and_fixed():
    src = """
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        epoch_loss += loss * x.size(0)  # <-
    """
    assert_flagged(src, "TR004")
    assert "epoch_loss += loss.item() * x.size(0)" in apply_fix(src, "TR004")


def test_list_that_feeds_a_later_backward_is_clean():
    assert_clean("""
    losses = []
    for x in chunks:
        loss = model(x).sum()
        losses.append(loss)
    total = sum(losses)
    total.backward()
    for x in chunks:
        l2 = model(x).sum()
        l2.backward()
    """, "TR004")

from rules.ruletest import assert_clean, assert_flagged

WRONG = """
import torch
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
for epoch in range(30):
    scheduler.step()  # <-
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
"""


def test_scheduler_stepped_first_is_flagged_with_the_optimizer_line():
    found = assert_flagged(WRONG, "TR003", "scheduler.step()", "line 10")
    assert found[0].related[0].line == 10


def test_scheduler_after_the_epoch_is_clean():
    right = WRONG.replace("    scheduler.step()  # <-\n", "") + "    scheduler.step()\n"
    assert_clean(right, "TR003")


def test_per_batch_order_is_checked_by_name_when_no_constructor_is_visible():
    assert_flagged("""
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        lr_scheduler.step()  # <-
        optimizer.step()
    """, "TR003")

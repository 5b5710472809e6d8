import textwrap

from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
import torch
model = torch.nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for x, y in loader:
        out = model(x)
        loss = torch.nn.functional.mse_loss(out, y)
        loss.backward()  # <-
        optimizer.step()
"""


def test_backward_without_zero_grad_is_flagged_on_the_backward_line():
    assert_flagged(WRONG, "TR001", "loss.backward()", "optimizer.zero_grad()")


def test_zero_grad_in_the_loop_is_clean():
    assert_clean(WRONG.replace("        out = model(x)", "        optimizer.zero_grad()\n        out = model(x)"), "TR001")


def test_gradient_accumulation_with_conditional_zero_grad_is_clean():
    assert_clean("""
    import torch
    opt = torch.optim.AdamW(model.parameters())
    for i, (x, y) in enumerate(loader):
        loss = model(x).sum() / 4
        loss.backward()
        if (i + 1) % 4 == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
    """, "TR001")


def test_zero_grad_only_per_epoch_is_flagged():
    assert_flagged("""
    for epoch in range(10):
        optimizer.zero_grad()
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()  # <-
            optimizer.step()
    """, "TR001")


def test_fix_inserts_zero_grad_at_the_top_of_the_loop_with_its_indentation():
    fixed = apply_fix(WRONG, "TR001")
    assert "    for x, y in loader:\n        optimizer.zero_grad()\n        out = model(x)" in fixed


def test_fix_follows_two_space_indentation():
    src = textwrap.dedent("""
    for x, y in loader:
      loss = model(x).sum()
      loss.backward()
      optimizer.step()
    """)
    assert "for x, y in loader:\n  optimizer.zero_grad()\n  loss = model(x).sum()" in apply_fix(src, "TR001")


def test_zero_grad_in_a_method_the_loop_calls_is_clean():
    assert_clean("""
    class Trainer:
        def reset_grads(self):
            self.optimizer.zero_grad()

        def fit(self, loader):
            for x, y in loader:
                self.reset_grads()
                loss = self.model(x).sum()
                loss.backward()
                self.optimizer.step()
    """, "TR001")

from rules.ruletest import assert_clean, assert_flagged

WRONG = """
import torch.optim as optim
optimizer = optim.SGD(net.parameters(), lr=0.01)  # <-
net = Net()
"""


def test_name_defined_later_is_flagged_with_its_line():
    found = assert_flagged(WRONG, "TR010", "defined at line 4")
    assert found[0].related[0].line == 4


def test_right_order_is_clean():
    assert_clean("""
    import torch.optim as optim
    net = Net()
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    """, "TR010")


def test_lowercase_instance_of_a_class_never_created_is_flagged():
    assert_flagged("""
    import torch.nn as nn
    class Net(nn.Module):
        pass
    params = net.parameters()  # <-
    """, "TR010", "net = Net()")


def test_function_bodies_loops_and_placeholders_are_not_flagged():
    assert_clean("""
    def train():
        return model(x)
    for i in range(3):
        if i:
            print(prev)
        prev = i
    for epoch in range(epochs):
        pass
    model = 1
    """, "TR010")

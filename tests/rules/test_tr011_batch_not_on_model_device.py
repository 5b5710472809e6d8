from rules.ruletest import assert_clean, assert_flagged

WRONG = """
import torch
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = Net().to(device)
for inputs, labels in train_loader:
    outputs = model(inputs)  # <-
"""


def test_batch_not_moved_is_flagged():
    found = assert_flagged(WRONG, "TR011", "inputs", "line 4")
    assert found[0].related[0].line == 4


def test_moved_batch_and_cpu_model_are_clean():
    assert_clean(WRONG.replace("    outputs = model(inputs)  # <-",
                               "    inputs = inputs.to(device)\n    outputs = model(inputs)"), "TR011")
    assert_clean(WRONG.replace("Net().to(device)", "Net().to('cpu')"), "TR011")


def test_unpacked_batch_is_followed():
    assert_flagged("""
    net = Net()
    net.cuda()
    for data in loader:
        x, y = data
        loss = criterion(net(x), y)  # <-
    """, "TR011")


def test_data_moved_up_front_is_clean():
    assert_clean("""
    model = Net().to(device)
    X_train, y_train = X_train.to(device), y_train.to(device)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True)
    for xb, yb in loader:
        out = model(xb)
    """, "TR011")

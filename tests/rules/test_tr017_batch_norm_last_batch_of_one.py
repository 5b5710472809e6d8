"""TR017 through `ml-lsp check`: a model with batch norm trained on a DataLoader whose last
batch holds one sample; silent where drop_last=True, the remainder is not one, the model has
no batch norm, or the dataset's length is not visible."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset, TensorDataset

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.bn = nn.BatchNorm1d(32)
        self.out = nn.Linear(32, 3)

    def forward(self, x):
        return self.out(torch.relu(self.bn(self.fc(x))))

def build_plain():
    return nn.Sequential(nn.Linear(16, 3))

def make_data():
    xs = torch.randn(1025, 16)
    ys = torch.randint(0, 3, (1025,))
    return TensorDataset(xs, ys)

def fit(model, loader):
    opt = torch.optim.Adam(model.parameters())
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

data = make_data()
net = Net()
optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
plain = build_plain()
plain_opt = torch.optim.SGD(plain.parameters(), lr=0.1)

loader = DataLoader(data, batch_size=64, shuffle=True)
for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()

dropped = DataLoader(data, batch_size=64, shuffle=True, drop_last=True)
for x, y in dropped:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()

even = DataLoader(Subset(data, range(1024)), batch_size=64, shuffle=True)
for x, y in even:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()

for x, y in DataLoader(data, batch_size=32, shuffle=True):
    plain_opt.zero_grad()
    nn.functional.cross_entropy(plain(x), y).backward()
    plain_opt.step()

unknown = DataLoader(external_dataset, batch_size=64, shuffle=True)
for x, y in unknown:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()
"""


def test_batch_norm_with_a_last_batch_of_one(project):
    assert check(project, SRC, "--select", "TR017") == [("TR017", 36)]


def test_fix_passes_drop_last(project):
    check(project, SRC, "--select", "TR017", "--fix")
    fixed = (project / "train.py").read_text()
    assert "loader = DataLoader(data, batch_size=64, shuffle=True, drop_last=True)" in fixed
    assert check(project, fixed, "--select", "TR017") == []

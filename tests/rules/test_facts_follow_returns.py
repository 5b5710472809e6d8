"""Issue 16: the training and data facts follow values through the file's own functions
(their returns, a local they return, a returned tuple unpacked) and literal containers
(`loaders["check"]`), checked through `ml-lsp check`. Names are chosen so that nothing but
the followed fact can give the mistake away, and each case has a correct twin that stays
silent."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

LOADERS = """\
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets

def get_loaders():
    a_ds = datasets.MNIST("data", train=True, download=True)
    b_ds = datasets.MNIST("data", train=False, download=True)
    first = DataLoader(a_ds, batch_size=64, shuffle=True)
    second = DataLoader(b_ds, batch_size=64)
    return first, second

def loader_table():
    return {"fit": DataLoader(datasets.MNIST("d", train=True), shuffle=True),
            "check": DataLoader(datasets.MNIST("d", train=False))}

model = nn.Linear(784, 10)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
crit = nn.CrossEntropyLoss()

def step(x, y):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()

one, two = get_loaders()
for x, y in two:
    opt.zero_grad()
    crit(model(x), y).backward()
    opt.step()
for x, y in one:
    opt.zero_grad()
    crit(model(x), y).backward()
    opt.step()

table = loader_table()
chosen = table["check"]
for x, y in chosen:
    step(x, y)
    opt.zero_grad()
    crit(model(x), y).backward()
    opt.step()
kept = table["fit"]
for x, y in kept:
    opt.zero_grad()
    crit(model(x), y).backward()
    opt.step()
"""


def test_held_out_loader_through_a_returned_tuple_and_a_dict(project):
    assert check(project, LOADERS, "--select", "DA001") == [("DA001", 28), ("DA001", 39)]


MODELS = """\
import torch
import torch.nn as nn

def build():
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2))

def build_plain():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return net

def make_pair():
    return nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2)), nn.Linear(2, 1)

model = build().to("cpu")
plain = build_plain().to("cpu")
gen, head = make_pair()

def evaluate(loader):
    with torch.no_grad():
        for x, y in loader:
            out = model(x)

def evaluate_plain(loader):
    with torch.no_grad():
        for x, y in loader:
            out = plain(x)

def evaluate_gen(loader):
    with torch.no_grad():
        for x, y in loader:
            out = gen(x)

def evaluate_head(loader):
    with torch.no_grad():
        for x, y in loader:
            out = head(x)
"""


def test_dropout_and_batch_norm_through_a_function_return(project):
    assert check(project, MODELS, "--select", "TR006") == [("TR006", 20), ("TR006", 30)]


SOFTMAX = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

net = nn.Linear(4, 3)
criterion = nn.CrossEntropyLoss()

def predict(x):
    logits = net(x)
    probs = F.softmax(logits, dim=1)
    return probs

def scores(x):
    return net(x)

def train(x, y, opt):
    out = predict(x)
    loss = criterion(out, y)
    loss.backward()
    opt.step()
    loss2 = criterion(scores(x), y)
    loss3 = criterion(predict(x), y)
"""


def test_probabilities_through_a_function_return(project):
    assert check(project, SOFTMAX, "--select", "TR008") == [("TR008", 18), ("TR008", 22)]


PAIR = """\
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets

a = DataLoader(datasets.MNIST("d", train=True), shuffle=True)
b = DataLoader(datasets.MNIST("d", train=False))
pair = (a, b)
model = nn.Linear(3, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in pair[1]:
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
for x, y in enumerate(pair[0]):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
"""


def test_held_out_loader_read_from_a_tuple_by_index(project):
    assert check(project, PAIR, "--select", "DA001") == [("DA001", 11)]


KEYWORD_LOADER = """\
import torch
import torch.nn as nn
import torchvision

test_dataset = torchvision.datasets.MNIST(root="data", train=False)
train_dataset = torchvision.datasets.MNIST(root="data", train=True)
train_loader = torch.utils.data.DataLoader(dataset=train_dataset, batch_size=100, shuffle=True)
test_loader = torch.utils.data.DataLoader(dataset=test_dataset, batch_size=100)

def get_loaders():
    return train_loader, test_loader

first, second = get_loaders()
model = nn.Linear(784, 10)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(2):
    for i, (x, y) in enumerate(second):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for i, (x, y) in enumerate(first):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
"""


def test_loader_built_with_the_dataset_keyword_and_returned_as_a_pair(project):
    assert check(project, KEYWORD_LOADER, "--select", "DA001") == [("DA001", 17)]


DEVICE = """\
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)

def build(device):
    net = Net()
    return net.to(device)

def to_gpu(batch):
    return [t.cuda() for t in batch]

device = torch.device("cuda")
model = build(device)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in train_loader:
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()

for batch in train_loader:
    x, y = to_gpu(batch)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
"""


def test_device_of_a_model_moved_inside_a_builder_function(project):
    # the model's device is followed through build()'s return; a loop that moves its batch
    # through the file's own helper stays silent
    assert check(project, DEVICE, "--select", "TR011") == [("TR011", 25)]


GRAD_MODE = """\
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 2))

def evaluate(loader):
    total = 0
    for x, y in loader:
        total += (model(x).argmax(1) == y).sum().item()
    return total

def validate(loader):
    total = 0
    for x, y in loader:
        total += (model(x).argmax(1) == y).sum().item()
    return total

with torch.no_grad():
    acc = evaluate(test_loader)
acc2 = validate(test_loader)
"""


def test_grad_mode_followed_into_a_function_called_under_no_grad(project):
    # evaluate() only runs inside `with torch.no_grad()`; validate() runs with autograd on
    assert check(project, GRAD_MODE, "--select", "TR005") == [("TR005", 14)]

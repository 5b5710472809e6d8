"""TR016 through `ml-lsp check`: the model moved after its (stateful) optimizer's state was
restored."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

def resume(path, device):
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ckpt = torch.load(path, weights_only=True)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    model.to(device)
    return model, optimizer

def resume_right(path, device):
    net = Net()
    opt = torch.optim.AdamW(net.parameters())
    net.to(device)
    opt.load_state_dict(torch.load(path, weights_only=True))
    return net, opt

def resume_plain_sgd(path, device):
    net2 = Net()
    sgd = torch.optim.SGD(net2.parameters(), lr=0.1)
    sgd.load_state_dict(torch.load(path, weights_only=True))
    net2.cuda()
"""


def test_model_moved_after_optimizer_state_is_restored(project):
    assert check(project, SRC, "--select", "TR016") == [("TR016", 15)]

"""Training scripts written the way the well-known public ones are (the PyTorch MNIST
example, the CIFAR-10 tutorial, the Hugging Face training loop): clean as written, and each
classic mistake seeded into them is flagged by the rule for it, on the line it happens."""

from pathlib import Path

import pytest

from ml_lsp.analysis.lint import check_source

SCRIPTS = Path(__file__).parent / "scripts"


def findings(text):
    return [(f.line, f.code) for f in check_source(text, "script.py").findings]


@pytest.mark.parametrize("name", ["mnist_main.py", "cifar_tutorial.py", "hf_loop.py"])
def test_clean_scripts_have_no_findings(name):
    assert findings((SCRIPTS / name).read_text()) == []


MUTATIONS = [
    ("mnist_main.py", "    model.train()\n    for batch_idx", "    pass\n    for batch_idx", (95, "TR007")),
    ("mnist_main.py", "    model.eval()\n    test_loss = 0", "    pass\n    test_loss = 0", (58, "TR006")),
    ("cifar_tutorial.py", "        optimizer.zero_grad()\n", "\n", (47, "TR001")),
    ("cifar_tutorial.py", "running_loss += loss.item()", "running_loss += loss", (49, "TR004")),
    ("cifar_tutorial.py", "with torch.no_grad():\n    for data", "if True:\n    for data", (65, "TR005")),
    ("cifar_tutorial.py", "        x = self.fc3(x)\n        return x", "        x = self.fc3(x)\n        return F.softmax(x, dim=1)",
     (46, "TR008")),
    ("cifar_tutorial.py", "shuffle=True, num_workers=2)\ntestset", "num_workers=2)\ntestset", (11, "DA002")),
    ("cifar_tutorial.py", "enumerate(trainloader, 0)", "enumerate(testloader, 0)", (42, "DA001")),
    ("cifar_tutorial.py", "torch.load(PATH, weights_only=True)", "torch.load(PATH)", (59, "DA003")),
    ("hf_loop.py", "        optimizer.step()\n        lr_scheduler.step()", "        lr_scheduler.step()\n        optimizer.step()",
     (22, "TR003")),
    ("hf_loop.py", "        batch = {k: v.to(device) for k, v in batch.items()}\n        outputs = model(**batch)",
     "        pass\n        outputs = model(**batch)", (19, "TR011")),
    ("hf_loop.py", "        loss.backward()\n", "        pass\n", (22, "TR002")),
]


@pytest.mark.parametrize("name,old,new,expected", MUTATIONS, ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_seeded_mistake_is_flagged(name, old, new, expected):
    text = (SCRIPTS / name).read_text()
    assert text.count(old) == 1
    assert findings(text.replace(old, new)) == [expected]

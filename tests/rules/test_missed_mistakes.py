"""Ordinary mistakes the TR/DA rules used to miss (issue 16), found by following where
values come from rather than how they are spelled; run as a user runs `ml-lsp check`."""

import textwrap

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)


def test_user_training_function_called_on_the_test_split(project):
    src = """\
        from sklearn.model_selection import train_test_split

        def fit(xs, ys, epochs):
            for _ in range(epochs):
                optimizer.zero_grad()
                loss = ((model(xs) - ys) ** 2).mean()
                loss.backward()
                optimizer.step()

        x_train, x_test, y_train, y_test = train_test_split(X, Y, test_size=0.2)
        fit(x_train, y_train, 10)
        fit(x_test, y_test, 10)
        """
    assert check(project, src, "--select", "DA001") == [("DA001", 12)]


def test_held_out_data_followed_from_train_test_split_and_train_false(project):
    src = """\
        import torch
        from torchvision import datasets
        from sklearn.model_selection import train_test_split

        a, b, c, d = train_test_split(X, Y)
        ds = datasets.MNIST("data", train=False, download=True)
        loader = torch.utils.data.DataLoader(ds, batch_size=64)
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()

        def train_step(inputs, targets):
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()

        def fit(xs, ys):
            for i in range(10):
                train_step(xs, ys)

        fit(a, c)
        fit(b, d)
        """
    assert check(project, src, "--select", "DA001") == [("DA001", 8), ("DA001", 23)]


def test_loss_modules_check_shapes_at_module_level(project):
    src = """\
        import torch
        import torch.nn as nn

        pred = torch.randn(32, 1)
        target = torch.randn(32)
        criterion = nn.MSELoss()
        loss = criterion(pred, target)
        fine = criterion(pred.squeeze(1), target)
        logits = torch.randn(32, 10)
        ce = nn.CrossEntropyLoss()(logits, torch.randn(32, 5))
        ok = nn.CrossEntropyLoss()(logits, torch.randint(0, 10, (32,)))
        """
    assert check(project, src, "--select", "SH016,SH017") == [("SH017", 7), ("SH016", 10)]


def test_evaluate_function_without_eval_or_no_grad(project):
    src = """\
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.drop = nn.Dropout(0.2)

            def forward(self, x):
                return self.fc(self.drop(x))

        def evaluate(model, loader):
            correct = 0
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
            return correct

        net = Net()
        print(evaluate(net, val_loader))
        """
    assert check(project, src, "--select", "TR005,TR006") == [("TR005", 14), ("TR006", 14)]


def test_model_moved_to_the_cpu_device_needs_no_batch_move(project):
    src = """\
        import torch
        import torch.nn as nn

        device = torch.device("cpu")
        model = nn.Linear(4, 3)
        model.to(device)
        for inputs, labels in train_loader:
            outputs = model(inputs)
        """
    assert check(project, src, "--select", "TR011") == []
    moved = src.replace('torch.device("cpu")', 'torch.device("cuda" if torch.cuda.is_available() else "cpu")')
    assert check(project, moved, "--select", "TR011") == [("TR011", 8)]


def test_held_out_data_a_training_function_only_evaluates_on_is_fine(project):
    # pytorch/examples gat: train_iter(..., mask_train, mask_val) trains on mask_train and
    # only measures on mask_val
    src = """\
        def test(model, mask):
            return model(features)[mask].argmax(1)

        def train_iter(model, optimizer, mask_train, mask_val):
            optimizer.zero_grad()
            loss = criterion(model(features)[mask_train], labels[mask_train])
            loss.backward()
            optimizer.step()
            test(model, mask_val)

        idx_train, idx_val = make_masks()
        train_iter(model, optimizer, idx_train, idx_val)
        train_iter(model, optimizer, idx_val, idx_train)
        """
    assert check(project, src, "--select", "DA001") == [("DA001", 13)]


def test_torch_accelerator_is_not_a_library_that_moves_batches(project):
    # pytorch/examples mnist picks its device with torch.accelerator; a train() that forgets
    # to move the batch must still be flagged
    src = """\
        import torch

        def train(model, device, train_loader, optimizer):
            for data, target in train_loader:
                optimizer.zero_grad()
                output = model(data)

        device = torch.accelerator.current_accelerator()
        model = Net().to(device)
        train(model, device, train_loader, optimizer)
        """
    assert check(project, src, "--select", "TR011") == [("TR011", 6)]


def test_discriminator_ending_in_a_sigmoid_sequential_with_bce_with_logits(project):
    # PyTorch-GAN: self.model = nn.Sequential(..., nn.Sigmoid()); forward returns it; the loss
    # called on discriminator(x) directly
    src = """\
        import torch
        import torch.nn as nn

        class Discriminator(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = nn.Sequential(nn.Linear(784, 1), nn.Sigmoid())

            def forward(self, img):
                validity = self.model(img.view(img.size(0), -1))
                return validity

        discriminator = Discriminator()
        adversarial_loss = torch.nn.BCEWithLogitsLoss()
        for imgs, _ in dataloader:
            d_loss = adversarial_loss(discriminator(imgs), valid)
        """
    assert check(project, src, "--select", "TR009") == [("TR009", 16)]
    assert check(project, src.replace("BCEWithLogitsLoss", "BCELoss"), "--select", "TR009") == []

"""A name a model needs, re-exported through a package's ``__init__`` and a chain of
helper modules (timm's ``create_conv2d``: __init__ -> create_conv2d -> conv2d_same ->
padding), is followed however deep the chain: lazy imports load only what is needed."""

import json
import subprocess
import sys

FILES = {
    "lib/__init__.py": "from .factory import make_conv\nfrom .padding import pad_value\n",
    "lib/factory.py": "from .same import make_pad_conv\n\n\ndef make_conv(cin, cout, k):\n"
                      "    return make_pad_conv(cin, cout, k)\n",
    "lib/same.py": "import torch.nn as nn\nfrom .padding import pad_value\n\n\n"
                   "def make_pad_conv(cin, cout, k):\n    return nn.Conv2d(cin, cout, k, padding=pad_value(k))\n",
    "lib/padding.py": "def pad_value(k):\n    return k // 2\n",
    "lib/models/__init__.py": "",
    "lib/models/net.py": "import torch\nimport torch.nn as nn\nfrom lib import make_conv\n\n\n"
                        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                        "        self.conv = make_conv(3, 8, 5)\n\n"
                        "    def forward(self, x):\n        h = self.conv(x)\n        return h\n",
}


def test_a_conv_made_four_imports_away_has_its_shape(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "lib/models/net.py",
                           "--input", "x=2,3,16,16"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes.get("h") == [2, 8, 16, 16]  # padding k // 2 keeps 16x16, read from padding.py

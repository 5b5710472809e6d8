#!/usr/bin/env bash
# Set up the real-code benchmark: its own venv (reusing the system torch; never another
# torch), the packages its classes import at the pinned releases, and the PyPI wheels that
# stand in for the repositories too large to mirror here.
#
#   bash benchmarks/realcode/setup.sh [MIRRORS]      (MIRRORS: default /work/.mirror or $REALCODE_MIRRORS)
#
# The git mirrors themselves (MIRRORS/OWNER+NAME/repo) come from the search tool's fetch
# verb, or `git clone --mirror`; see README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mirrors="${1:-${REALCODE_MIRRORS:-/work/.mirror}}"
venv="$here/.venv"

python3 -c 'import torch; assert torch.__version__.split("+")[0] == "2.13.0", torch.__version__' \
  || { echo "setup.sh: the system python needs torch 2.13.0 (the benchmark's venv reuses it)" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv"
fi
pip=("$venv/bin/pip" install -c "$here/constraints.txt")
"${pip[@]}" -r "$here/requirements.txt"
# These two pin huggingface-hub ranges that exclude each other's and transformers 5.25's;
# the modules the benchmark imports do not need those pins.
"${pip[@]}" --no-deps diffusers==0.40.0 litgpt==0.5.13

# Wheels that stand in for huggingface/transformers and pytorch/vision (see manifest.toml).
mkdir -p "$mirrors/pypi"
"$venv/bin/pip" download --no-deps -d "$mirrors/pypi" transformers==5.25.0 torchvision==0.28.0

# timm imports torchvision, whose PyPI wheel needs runtime.py's workaround beside the CPU torch.
PYTHONPATH="$here/tracehooks${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" - <<'PY'
import torch, transformers, timm, diffusers, einops, x_transformers, vector_quantize_pytorch, litgpt, torchtune
print("benchmark venv ready: torch", torch.__version__, "transformers", transformers.__version__,
      "timm", timm.__version__, "diffusers", diffusers.__version__)
PY

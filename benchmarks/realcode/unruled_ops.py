"""How much a meta-kernel oracle could add (issue 13 item 4): of the bindings the engine did
not get exact with inputs, how many sit on a line that calls a torch op with no shape rule.

Reads a scorer run's JSON (``run.py --json F``) and the materialised sources; prints the
count per op, for the tune and held-out splits. An op counts as torch's when the line calls
``torch.X``, ``F.X`` / ``nn.functional.X`` or a tensor method ``.X`` that torch.Tensor has.

    python benchmarks/realcode/unruled_ops.py RUN.json
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import case_file, load_manifest  # noqa: E402


def torch_calls(line: str) -> list[str]:
    """The torch ops a source line calls, as rule names (torch.X, torch.nn.functional.X,
    torch.Tensor.X)."""
    try:
        tree = ast.parse(line.strip().rstrip(":").rstrip("\\") or "pass")
    except SyntaxError:
        return []
    import torch  # the benchmark's interpreter has it; only to tell tensor methods apart
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, base = node.func.attr, node.func.value
        text = ast.unparse(base)
        if text == "torch":
            out.append(f"torch.{name}")
        elif text in ("F", "nn.functional", "torch.nn.functional"):
            out.append(f"torch.nn.functional.{name}")
        elif hasattr(torch.Tensor, name) and not text.startswith("self"):
            out.append(f"torch.Tensor.{name}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the JSON a run.py --json wrote")
    opts = parser.parse_args(argv)
    import json

    from ml_lsp.analysis.engine import default_rules
    rules = default_rules()
    data = json.loads(Path(opts.run).read_text())
    manifest = load_manifest()
    cases = {c.id: c for c in manifest.cases}
    for split in ("tune", "heldout"):
        total = unruled_lines = 0
        per_op: Counter = Counter()
        for item in data["classes"]:
            if item["split"] != split:
                continue
            case = cases.get(item["id"])
            for where, _name, _static, _runtime, kind in item.get("disagreements_with", []):
                total += 1
                try:
                    file_part, line_no = where.split(" (")[0].rsplit(":", 1)
                    repo, path = file_part.split(":", 1)
                    root = case_file(manifest, case).parents[len(Path(case.path).parts) - 1]
                    line = (root / path).read_text().splitlines()[int(line_no) - 1]
                except Exception:
                    continue
                missing = [op for op in torch_calls(line) if op not in rules]
                if missing:
                    unruled_lines += 1
                    per_op.update(set(missing))
        print(f"== {split}: {total} bindings not exact with inputs; {unruled_lines} on a line calling a "
              f"torch op without a rule")
        for op, n in per_op.most_common(15):
            print(f"  {n:5d}  {op}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

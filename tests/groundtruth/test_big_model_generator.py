"""The benchmarks' generated 1,000-line model file is real model code that runs."""

import runpy
import sys
import types
from pathlib import Path

import torch

GENERATOR = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_big_model.py"


def test_generated_file_has_many_modules_and_every_model_runs():
    generate = runpy.run_path(str(GENERATOR))["generate"]
    text, calls = generate(1000, seed=0)
    assert text.count("\n") >= 1000
    assert text.count("(nn.Module)") + text.count("(nn.Sequential)") >= 30
    module = types.ModuleType("generated_models")
    sys.modules["generated_models"] = module  # dataclasses look their module up
    try:
        exec(compile(text, "generated_models.py", "exec"), module.__dict__)
        with torch.no_grad():
            for call in calls:
                eval(call, module.__dict__)
    finally:
        del sys.modules["generated_models"]
    assert len(calls) >= 20
    assert generate(1000, seed=1)[0] != text  # seeds vary the sizes

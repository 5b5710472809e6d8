"""The capture's CUDA-only paths, run on a machine without a GPU: the script stands in for
CUDA and NVML at their Python boundary (``torch.cuda`` memory calls, a ``pynvml`` module
answering as the real one does), and the frames must carry what a GPU run would show.
A real GPU run is not part of the suite (CI has none)."""

from __future__ import annotations

import textwrap

from ml_lsp.runner.frames import read_frames

from test_capture import bootstrap, line_of

SCRIPT = textwrap.dedent('''\
    import sys, time, types
    import torch
    from torch import nn

    # --- stand-ins for a GPU: what torch.cuda and NVML answer on one ---
    peaks = iter(range(1, 10**6))
    torch.cuda.is_initialized = lambda: True
    torch.cuda.max_memory_allocated = lambda device=None: next(peaks) * 2**20 * 100
    torch.cuda.reset_peak_memory_stats = lambda device=None: None
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=90 + h, memory=10)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30, free=0)
    sys.modules["pynvml"] = nvml
    # -------------------------------------------------------------------

    model = nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ''')


def test_peak_gpu_memory_per_step_and_nvml_samples(tmp_path):
    script = tmp_path / "gpu.py"
    script.write_text(SCRIPT)
    result = bootstrap(script, frames=tmp_path / "frames", env_extra={"CUDA_VISIBLE_DEVICES": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    frames = read_frames(tmp_path / "frames")
    peaks = [f for f in frames if f["kind"] == "metric" and f["name"] == "gpu_mem_peak_mb"]
    # On the optimizer step's line, in MiB, read (and reset) once per sample, not per step.
    assert peaks and {f["line"] for f in peaks} == {line_of(SCRIPT, "opt.step()")}
    assert [f["value"] for f in peaks] == [100.0 * (i + 1) for i in range(len(peaks))]
    assert peaks[-1]["step"] > len(peaks)
    systems = [f for f in frames if f["kind"] == "system" and f["gpus"]]
    assert systems, "no NVML sample in the system frames"
    # Only the GPU the run was given (CUDA_VISIBLE_DEVICES), with NVML's numbers.
    assert systems[-1]["gpus"] == [{"index": 1, "util": 91, "mem_used": 2 * 2**30, "mem_total": 80 * 2**30}]

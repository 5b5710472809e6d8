"""Which GPUs this machine has and how much memory each has free: NVML through
nvidia-ml-py (``pynvml``) when it is installed, else ``nvidia-smi``, else none (CPU)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


@dataclass
class Gpu:
    index: int  # in PCI bus order, as CUDA numbers them with CUDA_DEVICE_ORDER=PCI_BUS_ID
    name: str
    mem_free: int  # bytes
    mem_total: int
    util: int | None = None  # percent
    uuid: str = ""


def _probe_nvml() -> list[Gpu] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                util = int(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            except Exception:
                util = None
            name = pynvml.nvmlDeviceGetName(h)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            gpus.append(Gpu(i, name.decode() if isinstance(name, bytes) else str(name), int(mem.free),
                            int(mem.total), util, uuid.decode() if isinstance(uuid, bytes) else str(uuid)))
        return gpus
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Rows of ``nvidia-smi --query-gpu=index,name,memory.free,memory.total,utilization.gpu,uuid
    --format=csv,noheader,nounits`` (memory in MiB)."""
    gpus = []
    for row in text.splitlines():
        cells = [c.strip() for c in row.split(",")]
        if len(cells) < 4:
            continue
        try:
            index, free, total = int(cells[0]), int(float(cells[2])), int(float(cells[3]))
        except ValueError:
            continue
        try:
            util = int(float(cells[4])) if len(cells) > 4 else None
        except ValueError:  # "[N/A]"
            util = None
        gpus.append(Gpu(index, cells[1], free << 20, total << 20, util, cells[5] if len(cells) > 5 else ""))
    return gpus


def _probe_nvidia_smi() -> list[Gpu] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,name,memory.free,memory.total,utilization.gpu,uuid",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else None


def probe_gpus() -> list[Gpu]:
    """The GPUs present, in CUDA's PCI-bus order; [] on a machine without any."""
    gpus = _probe_nvml()
    if gpus is None:
        gpus = _probe_nvidia_smi()
    return sorted(gpus or [], key=lambda g: g.index)


def parse_devices(text: str | list | None) -> str | list[int]:
    """``auto`` | ``cpu`` | a list of GPU indices from ``0,1``. Raises ValueError."""
    if text is None or text == "" or text == "auto":
        return "auto"
    if isinstance(text, list):
        return [int(x) for x in text]
    text = str(text).strip().lower()
    if text in ("auto", "cpu"):
        return text
    try:
        indices = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise ValueError(f"--devices {text!r}: expected auto, cpu, or GPU indices like 0,1") from None
    if not indices or any(i < 0 for i in indices):
        raise ValueError(f"--devices {text!r}: expected auto, cpu, or GPU indices like 0,1")
    return indices


def choose_gpus(gpus: list[Gpu], count: int, busy: dict[int, int], per_gpu: int) -> list[int] | None:
    """``count`` GPUs with fewer than ``per_gpu`` jobs, most free memory first; None when
    not enough are free now."""
    free = [g for g in gpus if busy.get(g.index, 0) < per_gpu]
    if len(free) < count:
        return None
    free.sort(key=lambda g: (-g.mem_free, g.index))
    return sorted(g.index for g in free[:count])

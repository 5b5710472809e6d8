"""Several nodes: ``--num-nodes 2`` runs torchrun on two Ray nodes (a second raylet on this
machine, the most one machine allows), one rank on each, placed by a STRICT_SPREAD
placement group; the ranks talk (gloo) and rank 0's metrics come home on the user's line,
rank 1's beside them."""

from __future__ import annotations

import json
import textwrap

from ray_launcher.conftest import line_of, ml_lsp

DDP = textwrap.dedent('''\
    import torch
    import torch.distributed as dist
    import ml_lsp

    if __name__ == "__main__":
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        for step in range(5):
            total = torch.tensor([float(rank + 1)])
            dist.all_reduce(total)
            ml_lsp.log(total=total.item(), world=float(world), step=step)
        print("rank", rank, "of", world, "done")
        dist.destroy_process_group()
    ''')


def test_two_nodes_run_torchrun_and_rank_0_comes_home(ray_cluster, workspace):
    ray_cluster.add_node(num_cpus=1)
    (workspace / "ddp.py").write_text(DDP)
    proc = ml_lsp("run", "ddp.py", "--launcher", "ray", "--address", ray_cluster.address, "--num-nodes", "2",
                  "--wait", cwd=workspace, timeout=400)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    shown = json.loads(ml_lsp("runs", "show", run_id, "--json", cwd=workspace).stdout)
    metrics = {m["name"]: m for m in shown["metrics"]}
    assert metrics["world"]["last"] == 2.0 and metrics["total"]["last"] == 3.0  # 1 + 2: both ranks
    assert metrics["total"]["path"] == str(workspace / "ddp.py")
    assert metrics["total"]["line"] == line_of(DDP, "ml_lsp.log(total")
    assert all(m["rank"] == 0 for m in shown["metrics"])
    rank1 = json.loads(ml_lsp("runs", "show", run_id, "--json", "--rank", "1", cwd=workspace).stdout)
    assert {m["name"] for m in rank1["metrics"]} == {"total", "world"}
    assert all(m["rank"] == 1 for m in rank1["metrics"])

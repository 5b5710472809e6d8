"""`ml-lsp shapes` on a user's file that imports a model from the installed transformers
package (issue 13: "a file importing transformers stays under 1 s warm").

Three small files written here (a BERT classifier, a GPT-2 language-model head, a Llama
wrapper), each building its transformers model from a config and calling it in forward.
For each: the first run with an empty cache folder (cold: transformers' modules parsed,
jedi asked for the interpreter's search path) and the median of three more with that folder
kept (warm), beside the peer measured in the same run: a bare Python importing what the file
imports (``import torch, transformers`` and the model class), which is what running the file
would cost before any of it ran. It also checks that the engine followed the model (the
file's last binding has a known rank), so that a fast answer is not an empty one.

    python benchmarks/shapes_transformers_user.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bytecode import compile_ml_lsp  # noqa: E402

FILES = {
    "bert_classifier.py": ("Classifier", "input_ids=B,T", "BertModel", """
        import torch.nn as nn
        from transformers import BertConfig, BertModel


        class Classifier(nn.Module):
            def __init__(self, n_classes=3):
                super().__init__()
                config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128)
                self.bert = BertModel(config)
                self.head = nn.Linear(config.hidden_size, n_classes)

            def forward(self, input_ids):
                hidden = self.bert(input_ids).last_hidden_state
                pooled = hidden[:, 0]
                logits = self.head(pooled)
                return logits
        """),
    "gpt2_head.py": ("LMHead", "input_ids=B,T", "GPT2Model", """
        import torch.nn as nn
        from transformers import GPT2Config, GPT2Model


        class LMHead(nn.Module):
            def __init__(self):
                super().__init__()
                config = GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=128)
                self.gpt = GPT2Model(config)
                self.lm = nn.Linear(config.n_embd, config.vocab_size, bias=False)

            def forward(self, input_ids):
                hidden = self.gpt(input_ids).last_hidden_state
                logits = self.lm(hidden)
                return logits
        """),
    "llama_wrapper.py": ("Wrapper", "input_ids=B,T", "LlamaForCausalLM", """
        import torch.nn as nn
        from transformers import LlamaConfig, LlamaForCausalLM


        class Wrapper(nn.Module):
            def __init__(self):
                super().__init__()
                config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
                self.llm = LlamaForCausalLM(config)

            def forward(self, input_ids):
                logits = self.llm(input_ids=input_ids).logits
                probs = logits.softmax(-1)
                return probs
        """),
}


def _timed(cmd: list, env: dict, cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="warm runs per file (median)")
    args = parser.parse_args()
    compile_ml_lsp()
    try:
        import transformers
    except ImportError:
        raise SystemExit("transformers is not installed in this interpreter")
    print(f"transformers {transformers.__version__}, {args.runs} warm runs per file (median), wall seconds")
    print(f"{'file':22s} {'cold':>6s} {'warm':>6s} {'peer':>6s} {'warm/peer':>9s}  last binding")
    warm_all = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (entry, inputs, cls, text) in FILES.items():
            path = Path(tmp) / name
            path.write_text(textwrap.dedent(text))
            env = {**os.environ, "ML_LSP_CACHE_DIR": str(Path(tmp) / f"cache-{name}")}
            cmd = [sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", entry, "--input", inputs, name]
            cold, out = _timed(cmd, env, tmp)
            warm = statistics.median(_timed(cmd, env, tmp)[0] for _ in range(args.runs))
            peer = statistics.median(_timed([sys.executable, "-c", f"import torch, transformers; transformers.{cls}"],
                                            env, tmp)[0] for _ in range(args.runs))
            shapes = json.loads(out)["files"][0]["shapes"]
            last = shapes[-1] if shapes else None
            followed = bool(last and last["shape"] and last["shape"][0] != "*")
            shown = f"{last['name']} = {last['shape']}" if last else "none"
            print(f"{name:22s} {cold:6.2f} {warm:6.2f} {peer:6.2f} {warm / peer:9.2f}  {shown}"
                  f"{'' if followed else '  (model not followed)'}")
            warm_all.append(warm)
    print(f"median warm {statistics.median(warm_all):.2f} s (goal: under 1 s)")


if __name__ == "__main__":
    main()

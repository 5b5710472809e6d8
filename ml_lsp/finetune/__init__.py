"""Fine-tuning as a job type: a ``FinetuneSpec`` (from flags or a
``[tool.ml-lsp.finetune.NAME]`` table) run by ``ml_lsp.finetune.job`` inside the training
process.

Layering: ``spec`` and ``targets`` (where the editor offers "Fine-tune from checkpoint…")
are plain Python (the CLI and the language server import them); ``model``,
``data``, ``loop`` and ``export`` import torch and run only in the job process (or in the
CLI's validation step, which imports them inside the command).
"""

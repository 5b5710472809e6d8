"""The shape tracer: exact shapes from running ``forward`` on the meta device, in a child
process (the only part of ml-lsp besides training jobs that imports torch).

``session`` (parent side, no torch) starts and bounds the child and caches its answers;
``child`` and ``tracer`` run inside it; ``compare`` checks the static engine against it;
``command`` is ``ml-lsp shapes --trace``.
"""

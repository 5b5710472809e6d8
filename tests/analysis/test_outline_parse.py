"""Outlines (``analysis.parse``): an imported module parsed without its function bodies,
each body parsed on first use, gives the same tree as a whole parse, node for node with
every position, and spans that do not belong to the text never give another tree."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from ml_lsp.analysis.parse import LazyBody, outline_spans, parse_outline, same_outline

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

TRICKY = textwrap.dedent('''\
    """Module docstring."""
    import functools


    def plain(a, b=1, *args, c: int = 2, **kw) -> int:
        x = a + b
        y = [i for i in range(x)]
        return x + len(y)


    @functools.lru_cache(maxsize=None)
    def decorated_first_statement():
        @functools.wraps(print)
        def inner(*a):
            return a
        return inner


    class Holder:
        """A class."""

        def method(self, value):
            text = """
    a line less indented than the body
    """
            return text, value  # a comment after the last statement

        async def coroutine(self):
            await self.other()
            async for item in self.items():
                yield item

        def one_line(self): return 1

        def two_lines(self):
            return 2


    if True:
        def under_if(x):
            \tif x:
            \t    return "tab-indented"
            \treturn "é"  # non-ASCII before the end column: é


    try:
        def in_try(n):
            total = 0
            for i in range(n):
                total += i
            return total
    except ImportError:
        def in_try(n):
            return -1
            pass
            pass


    def continued(a,
                  b):
        value = a + \\
            b
        return (value,
                value)
''')


def _files():
    files = sorted(CORPUS.glob("*.py"))
    stdlib = Path(ast.__file__).parent
    files += [stdlib / name for name in ("ast.py", "argparse.py", "dataclasses.py", "functools.py",
                                          "inspect.py", "typing.py", "contextlib.py", "enum.py")]
    return [f for f in files if f.is_file()]


def _whole_and_outline(text: str):
    whole = ast.parse(text)
    spans = outline_spans(whole, text)
    outline = parse_outline(text, spans)
    return whole, spans, outline


@pytest.mark.parametrize("text", [TRICKY], ids=["tricky"])
def test_an_outline_is_the_whole_tree_once_its_bodies_are_read(text):
    whole, spans, outline = _whole_and_outline(text)
    assert len(spans) >= 6  # plain, decorated, method, coroutine, under_if, in_try, continued ...
    assert outline is not None and same_outline(whole, outline)
    # bodies are left for later until something reads them (``type`` reads no body)
    assert [n.name for n in outline.body if type(getattr(n, "body", None)) is LazyBody] == \
        ["plain", "decorated_first_statement", "continued"]
    assert ast.dump(outline, include_attributes=True) == ast.dump(whole, include_attributes=True)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_outlines_of_real_files_are_their_whole_trees(path):
    text = path.read_text(encoding="utf-8")
    whole, spans, outline = _whole_and_outline(text)
    if not spans:
        return
    assert outline is not None
    assert same_outline(whole, outline)
    assert ast.dump(outline, include_attributes=True) == ast.dump(whole, include_attributes=True)


def test_each_way_of_reading_a_body_reads_it():
    text = textwrap.dedent("""\
        def f(x):
            y = x + 1
            z = y * 2
            return z
    """)
    whole = ast.parse(text)
    spans = outline_spans(whole, text)
    expected = ast.dump(whole.body[0].body[1])
    reads = [lambda b: b[1], lambda b: list(b)[1], lambda b: [*b][1], lambda b: b[-2],
             lambda b: ([] + b)[1], lambda b: b[:][1], lambda b: next(x for i, x in enumerate(b) if i == 1)]
    for read in reads:
        outline = parse_outline(text, spans)
        body = outline.body[0].body
        assert type(body) is LazyBody
        assert ast.dump(read(body)) == expected
    outline = parse_outline(text, spans)
    assert len(outline.body[0].body) == 3 and bool(outline.body[0].body)


def test_spans_that_do_not_fit_the_text_give_no_outline_or_the_same_tree():
    """Spans reach ``parse_outline`` only from ``outline_spans`` of the same text (the disk
    store checks the text's digest and its own checksum); spans that do not fit it are
    either refused or give the whole tree."""
    text = textwrap.dedent("""\
        def f(x):
            y = x + 1
            z = y * 2
            return z


        def g(x):
            return x
    """)
    whole = ast.parse(text)
    spans = outline_spans(whole, text)
    assert spans
    first, last, end_col, indent = spans[0]
    wrong = [
        ((first + 1, last, end_col, indent),),  # starts inside the body: a statement is left over
        ((first, last - 1, end_col, indent),),  # ends early
        ((first, last, end_col + 3, indent),),  # past the line's end
        ((first, last, end_col, "  "),),  # another indentation
        ((0, last, end_col, indent),),
    ]
    for spans_ in wrong:
        outline = parse_outline(text, spans_)
        if outline is not None:
            assert ast.dump(outline, include_attributes=True) == ast.dump(whole, include_attributes=True), spans_

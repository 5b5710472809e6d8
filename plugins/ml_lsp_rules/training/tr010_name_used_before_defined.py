"""TR010 name-used-before-defined: a script's top-level code uses a name that is only
bound further down (or never, when a class of the same name in another case exists:
``net`` used, ``Net`` defined)."""

import ast
import builtins

from ml_lsp.analysis.lint import Related, Rule

DOCS = """\
A script runs top to bottom: `optim.SGD(net.parameters())` before `net = Net()` raises
`NameError` (or, in a notebook, silently uses the `net` from an earlier run). Only code at
module level is checked, where the order is certain; names bound anywhere in a loop count
as bound for the whole loop.

Wrong:
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    net = Net()

Right:
    net = Net()
    optimizer = optim.SGD(net.parameters(), lr=0.01)"""

KNOWN = set(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__path__", "__builtins__",
                              "__loader__", "__package__", "__annotations__", "__dict__", "get_ipython",
                              "display", "__IPYTHON__"}


def _bound(node) -> set[str]:
    """Names a statement (or part) binds in its own scope (not inside nested def/class bodies)."""
    names = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
            continue
        elif isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
        elif isinstance(n, ast.MatchAs) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
        stack.extend(ast.iter_child_nodes(n))
    return names


def _loads(node):
    """Name loads evaluated when the statement runs (not inside def/class/lambda bodies)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(n.decorator_list + n.args.defaults + [d for d in n.args.kw_defaults if d])
            continue
        if isinstance(n, ast.ClassDef):
            stack.extend(n.decorator_list + n.bases + [k.value for k in n.keywords])
            continue
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue  # comprehension scopes: their own names; skip rather than guess
        if isinstance(n, ast.AnnAssign):
            stack.extend([x for x in (n.value, n.target) if x is not None])
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            yield n
        stack.extend(ast.iter_child_nodes(n))


def check(ctx):
    tree = ctx.tree
    if tree is None:
        return
    sf = ctx.script
    if any(a.name == "*" for n in sf.nodes_of(ast.ImportFrom) for a in n.names):
        return  # names from a star import are unknowable
    if any(isinstance(n.func, ast.Name) and n.func.id in ("globals", "exec", "eval", "locals") for n in sf.all_calls):
        return
    all_bound = _bound(tree) | {name for n in sf.nodes_of(ast.Global) for name in n.names}
    classes = {n.name.lower(): n for n in tree.body if isinstance(n, ast.ClassDef)}
    first_binding: dict[str, int] = {}
    for n in sf.nodes_of(ast.Name):
        if isinstance(n.ctx, ast.Store) and n.id not in first_binding:
            first_binding[n.id] = n.lineno  # nodes_of is in source order
    defined = set(KNOWN)
    reported = set()

    def visit(stmts):
        for stmt in stmts:
            if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
                if isinstance(stmt, ast.While):
                    yield from uses(stmt.test)
                else:
                    yield from uses(stmt.iter)
                defined.update(_bound(stmt))  # a later iteration sees the loop's own names
                yield from visit(stmt.body)
                yield from visit(stmt.orelse)
            elif isinstance(stmt, ast.If):
                yield from uses(stmt.test)
                yield from visit(stmt.body)
                yield from visit(stmt.orelse)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    yield from uses(item.context_expr)
                    if item.optional_vars is not None:
                        defined.update(_bound(item.optional_vars))
                yield from visit(stmt.body)
            elif isinstance(stmt, ast.Try) or stmt.__class__.__name__ == "TryStar":
                defined.update(_bound(stmt))  # handlers may run after any part of the body
                yield from visit(stmt.body)
                for h in stmt.handlers:
                    yield from visit(h.body)
                yield from visit(stmt.orelse)
                yield from visit(stmt.finalbody)
            else:
                yield from uses(stmt)
                defined.update(_bound(stmt))

    def uses(node):
        for name in sorted(_loads(node), key=lambda x: (x.lineno, x.col_offset)):
            if name.id in defined or name.id in reported:
                continue
            if name.id in all_bound:
                later = first_binding.get(name.id)
                if later is not None and later > name.lineno:
                    reported.add(name.id)
                    yield RULE.at_node(ctx, name, f"{name.id} is used here but only defined at line {later}: "
                                       f"the script stops with NameError",
                                       related=[Related(later, 0, f"{name.id} is defined here")])
            elif name.id.lower() in classes and name.id != classes[name.id.lower()].name:
                cls = classes[name.id.lower()]
                reported.add(name.id)
                yield RULE.at_node(ctx, name, f"{name.id} is never defined (the script stops with NameError); "
                                   f"create it first, e.g. `{name.id} = {cls.name}()`",
                                   related=[Related(cls.lineno, cls.col_offset, f"class {cls.name} is defined here")])

    yield from visit(tree.body)


RULE = Rule(code="TR010", name="name-used-before-defined", category="training", severity="error",
            summary="a script uses a name before (or without) defining it", docs=DOCS, check=check)

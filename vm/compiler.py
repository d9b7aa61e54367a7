"""Deploy-time compiler: checks a contract against the language subset and instruments it.

The contract language (version 1) is a small subset of Python 3.11's grammar: module-level
functions (names without a leading underscore are entry points, the others helpers) and
module-level constants; integers, bytes, str, tuples, lists and dicts built inside a call;
if/for/while/break/continue/return; calls to the contract's own functions, to a few safe
builtins and to the contract API (`vm.api`). Anything else is rejected here.

The check is an allow-list, so a newer CPython cannot widen the language: the source must be
ASCII (non-ASCII text is written with \\u escapes, so identifiers never depend on a Unicode
database); it is parsed with the 3.11 grammar in a fresh thread (so the parser's recursion
headroom is the same in every code path); every syntax-tree node type and every field of it that
may be non-empty is listed in `_FIELDS`; the tree is at most MAX_NESTING deep and MAX_NODES
large. Rejections that depend on the parser (syntax errors, nesting, node kinds that only some
CPython versions produce) share one reason without a position, so a receipt reads the same on
every version; the CPython message is kept in `CompileError.detail` for local tools.

Rather than interpret bytecode of our own, we *instrument*: the checked syntax tree is rewritten
so that every arithmetic operation, comparison, subscript, display, allocation and method call
goes through a metered helper (`vm.runtime`), each straight-line run of statements and each loop
iteration charges its gas (counted here from the tree), and every function call passes a depth
guard. The result is compiled by CPython and run with an empty `__builtins__`: control flow runs
at native speed, and only names this compiler has resolved exist at run time. Gas is a function
of the syntax tree alone, so it is identical on every CPython version.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
import warnings
from dataclasses import dataclass
from types import CodeType
from typing import Any, Callable

from vm.errors import CompileError
from vm.gas import GAS, INT_BITS, MAX_ARGS, MAX_ITEMS, MAX_LOOP_NESTING, MAX_NESTING, MAX_NODES, MAX_SOURCE, MAX_TUPLE_DEPTH
from vm.runtime import BUILTINS

# 2: certified readings, the settlement interval, settled-energy reports; 3: delivery
# reservations, gas per operand, argument and display element, receipts' bytes at the storage
# rate, names-only loop targets, at most MAX_ARGS arguments. A chain's genesis pins the version
# (`machine.check_host`).
LANGUAGE_VERSION = 3
RESERVED = "_vm_"
OUTSIDE = "syntax outside the contract language"

API = frozenset({"get", "put", "delete", "scan", "sender", "height", "block_time", "self_address", "value",
                 "interval", "interval_start", "certified", "deployer", "meter_reading", "owner_reading",
                 "claim_delivery", "reserve_delivery",
                 "balance", "transfer", "emit", "call", "call_value", "try_call", "sha256", "ed25519_verify", "precompile",
                 "revert", "require", "to_bytes", "from_bytes"})
# No str.upper()/lower(): case mapping follows the Unicode database of the CPython version, which
# changes between minor versions, and a contract's result must not.
METHODS = frozenset({"append", "pop", "insert", "extend", "index", "count", "get", "keys", "values", "items",
                     "startswith", "endswith", "hex"})

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.FloorDiv: "floordiv", ast.Mod: "mod",
           ast.Pow: "pow", ast.LShift: "lshift", ast.RShift: "rshift", ast.BitAnd: "and", ast.BitOr: "or",
           ast.BitXor: "xor"}
_CMPOPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
           ast.In: "in", ast.NotIn: "not_in"}
_SIMPLE = (ast.Assign, ast.AugAssign, ast.Expr, ast.Return, ast.Pass, ast.Delete, ast.Break, ast.Continue)

# The allow-list: each node type the language has, with the fields that may be non-empty. Every
# other field of an allowed node (decorators, annotations, type parameters, loop else-blocks,
# keyword-only arguments, ...) must be empty, whatever fields a CPython version adds.
_LEAVES = (ast.Load, ast.Store, ast.Del, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Invert, ast.Is,
           ast.IsNot, ast.Pass, ast.Break, ast.Continue, ast.Div, ast.MatMult, *_BINOPS, *_CMPOPS)  # / and @ get their
# own reason from the checker
_FIELDS: dict[type, frozenset[str]] = {
    **{t: frozenset() for t in _LEAVES},
    ast.Module: frozenset({"body"}),
    ast.FunctionDef: frozenset({"name", "args", "body"}),
    ast.arguments: frozenset({"args", "defaults"}),
    ast.arg: frozenset({"arg"}),
    ast.Assign: frozenset({"targets", "value"}),
    ast.AugAssign: frozenset({"target", "op", "value"}),
    ast.Expr: frozenset({"value"}),
    ast.Return: frozenset({"value"}),
    ast.Delete: frozenset({"targets"}),
    ast.If: frozenset({"test", "body", "orelse"}),
    ast.For: frozenset({"target", "iter", "body"}),
    ast.While: frozenset({"test", "body"}),
    ast.BoolOp: frozenset({"op", "values"}),
    ast.BinOp: frozenset({"left", "op", "right"}),
    ast.UnaryOp: frozenset({"op", "operand"}),
    ast.IfExp: frozenset({"test", "body", "orelse"}),
    ast.Compare: frozenset({"left", "ops", "comparators"}),
    ast.Call: frozenset({"func", "args", "keywords"}),
    ast.keyword: frozenset({"arg", "value"}),
    ast.Constant: frozenset({"value", "kind"}),
    ast.Name: frozenset({"id", "ctx"}),
    ast.Attribute: frozenset({"value", "attr", "ctx"}),
    ast.Subscript: frozenset({"value", "slice", "ctx"}),
    ast.Slice: frozenset({"lower", "upper", "step"}),
    ast.List: frozenset({"elts", "ctx"}),
    ast.Tuple: frozenset({"elts", "ctx"}),
    ast.Dict: frozenset({"keys", "values"}),
}
_IDENTIFIERS = ("name", "id", "attr", "arg")
_NOT_SOURCE = re.compile(r"[^\t\n\r\x20-\x7e]")


@dataclass(frozen=True)
class CompiledContract:
    code_hash: bytes
    code: CodeType
    entry_points: frozenset[str]
    nodes: int  # syntax-tree nodes: what compiling it cost


def _fail(node: ast.AST, reason: str) -> CompileError:
    return CompileError(reason, getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _outside(detail: str) -> CompileError:
    return CompileError(OUTSIDE, 0, 0, detail)


def _check_name(node: ast.AST, name: str) -> None:
    if name.startswith("__") or name.startswith(RESERVED):
        raise _fail(node, f"name {name!r} is reserved")


def _check_constant(node: ast.Constant) -> None:
    v = node.value
    if isinstance(v, bool) or v is None:
        return
    if isinstance(v, int):
        if v.bit_length() >= INT_BITS:
            raise _fail(node, f"integer literal wider than {INT_BITS} bits")
        return
    if isinstance(v, (str, bytes)):
        if len(v) > MAX_ITEMS:
            raise _fail(node, "literal too long")
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise _fail(node, "string literal holds a surrogate: not valid Unicode") from None
        return
    if isinstance(v, float):
        raise _fail(node, "floats are not allowed: use integer units")
    raise _fail(node, f"{type(v).__name__} literals are not allowed")


def _check_tree(tree: ast.Module) -> int:
    """The allow-list, nesting and size bounds; returns the number of nodes."""
    count = 0
    todo: list[tuple[ast.AST, int]] = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        count += 1
        if depth > MAX_NESTING:
            raise _outside(f"nested deeper than {MAX_NESTING}")
        if count > MAX_NODES:
            raise CompileError(f"more than {MAX_NODES} syntax-tree nodes", 0, 0)
        allowed = _FIELDS.get(type(node))
        if allowed is None:
            raise _outside(f"{type(node).__name__} is not allowed (line {getattr(node, 'lineno', 0)})")
        for field in node._fields:
            value = getattr(node, field, None)
            if field not in allowed:
                if value is None or value == []:
                    continue
                raise _outside(f"{type(node).__name__}.{field} is not allowed (line {getattr(node, 'lineno', 0)})")
            if field in _IDENTIFIERS and isinstance(value, str) and not (value.isascii() and value.isidentifier()):
                raise _fail(node, "identifiers are ASCII")
            if isinstance(value, ast.AST):
                todo.append((value, depth + 1))
            elif isinstance(value, list):
                todo.extend((v, depth + 1) for v in value if isinstance(v, ast.AST))
        if isinstance(node, ast.Constant):
            _check_constant(node)
    return count


def _in_fresh_thread(work: Callable[[], Any]) -> Any:
    """Run `work` where the interpreter's recursion count starts at zero, so parsing and
    compiling succeed or fail the same way whichever code path (and stack depth) asked."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append((True, work()))
        except BaseException as exc:  # handed to the caller's thread as it is
            box.append((False, exc))

    thread = threading.Thread(target=run, name="pownode-vm-compile")
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value


def _parse(source: str) -> ast.Module:
    if len(source) > MAX_SOURCE or len(source.encode("utf-8")) > MAX_SOURCE:
        raise CompileError(f"source larger than {MAX_SOURCE} bytes", 0, 0)
    bad = _NOT_SOURCE.search(source)
    if bad is not None:
        line = source.count("\n", 0, bad.start()) + 1
        raise CompileError("source must be printable ASCII (write other text with \\u escapes)", line, 0)
    if "\\N{" in source:
        raise CompileError("\\N{...} escapes depend on the Unicode database: use \\u escapes", 0, 0)

    try:
        return ast.parse(source, mode="exec", type_comments=False, feature_version=(3, 11))
    except SyntaxError as exc:
        raise _outside(f"line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise _outside(type(exc).__name__) from None


def _ops_in(node: ast.AST) -> tuple[int, int]:
    """(operations, statically allocated elements) in one statement's own expressions, counted on
    the checked tree, before any rewriting. An operation's price covers two operands: each
    further operand of a BoolOp, link of a comparison chain or argument of a call is one more
    (one node can hold thousands); every element of a display is allocated."""
    ops = mem = 0
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Subscript, ast.IfExp, ast.AugAssign)):
            ops += 1  # an augmented assignment is an operator too
        elif isinstance(n, ast.BoolOp):
            ops += len(n.values) - 1
        elif isinstance(n, ast.Compare):
            ops += len(n.ops)
        elif isinstance(n, ast.Call):
            ops += 1 + max(0, len(n.args) + len(n.keywords) - 2)
        elif isinstance(n, (ast.List, ast.Tuple, ast.Dict)):
            ops += 1
            mem += len(n.keys) if isinstance(n, ast.Dict) else len(n.elts)
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, ast.stmt):
                todo.append(child)
    return ops, mem


def _tuple_depth(node: ast.expr) -> int:
    return 1 + max((_tuple_depth(e) for e in node.elts), default=0) if isinstance(node, ast.Tuple) else 0


class _Checker:
    """Validates one function body; knows its locals and the module's names."""

    def __init__(self, module_names: set[str], local_names: set[str]) -> None:
        self.module_names = module_names
        self.locals = local_names
        self.method_attrs: set[int] = set()  # ids of Attribute nodes that name an allowed method
        self.slices: set[int] = set()  # ids of Slice nodes that are a subscript's whole index

    def stmt(self, node: ast.stmt, loops: int) -> None:
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                raise _fail(node, "chained assignment is not allowed")
            self.target(node.targets[0])
            self.expr(node.value)
        elif isinstance(node, ast.AugAssign):
            if not isinstance(node.target, ast.Name):
                raise _fail(node, "augmented assignment only to a plain name")
            if type(node.op) not in _BINOPS:
                raise _fail(node, f"operator {type(node.op).__name__} is not allowed")
            self.target(node.target)
            self.expr(node.value)
        elif isinstance(node, (ast.Expr, ast.Return)):
            if node.value is not None:
                self.expr(node.value)
        elif isinstance(node, ast.Delete):
            for t in node.targets:
                if not isinstance(t, ast.Subscript):
                    raise _fail(t, "del only of a subscript (d[k])")
                self.expr(t.value)
                self.expr(t.slice)
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self.body(node.body, loops)
            self.body(node.orelse, loops)
        elif isinstance(node, (ast.For, ast.While)):
            if node.orelse:
                raise _fail(node, "loop else-blocks are not allowed")
            if loops >= MAX_LOOP_NESTING:
                raise _fail(node, f"loops nested deeper than {MAX_LOOP_NESTING}")
            if isinstance(node, ast.For):
                self.loop_target(node.target)
                self.expr(node.iter)
            else:
                self.expr(node.test)
            self.body(node.body, loops + 1)
        elif isinstance(node, (ast.Break, ast.Continue)):
            if not loops:
                raise _fail(node, "break/continue outside a loop")
        elif isinstance(node, ast.Pass):
            return
        else:
            raise _fail(node, f"{type(node).__name__} statements are not allowed")

    def body(self, stmts: list[ast.stmt], loops: int) -> None:
        for s in stmts:
            self.stmt(s, loops)

    def loop_target(self, node: ast.expr) -> None:
        """A for loop stores each item natively, past `setitem`'s checks of keys and values: so
        its target is a name or a tuple of names, never a subscript."""
        if isinstance(node, ast.Name):
            _check_name(node, node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for e in node.elts:
                self.loop_target(e)
        else:
            raise _fail(node, "a loop target is a name or a tuple of names")

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            _check_name(node, node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for e in node.elts:
                if isinstance(e, ast.Subscript):
                    raise _fail(e, "unpacking into a subscript is not allowed")
                self.target(e)
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                raise _fail(node, "slice assignment is not allowed")
            self.expr(node.value)
            self.expr(node.slice)
        else:
            raise _fail(node, f"cannot assign to {type(node).__name__}")

    def expr(self, node: ast.expr) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                _check_name(n, n.id)
                if isinstance(n.ctx, ast.Load) and n.id not in self.locals and n.id not in self.module_names \
                        and n.id not in BUILTINS and n.id not in API:
                    raise _fail(n, f"unknown name {n.id!r}")
            elif isinstance(n, ast.BinOp) and type(n.op) not in _BINOPS:
                raise _fail(n, "true division '/' is not allowed: use '//'" if isinstance(n.op, ast.Div)
                            else f"operator {type(n.op).__name__} is not allowed")
            elif isinstance(n, ast.Compare):
                for op, right in zip(n.ops, n.comparators):
                    if isinstance(op, (ast.Is, ast.IsNot)) and not (
                            isinstance(right, ast.Constant) and right.value is None):
                        raise _fail(n, "'is' only against None (identity is not deterministic)")
            elif isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Slice):
                self.slices.add(id(n.slice))  # ast.walk visits the Subscript before its slice
            elif isinstance(n, ast.Slice) and id(n) not in self.slices:
                # A slice inside a tuple index (d[1:2, 0]) is a hashable key on 3.12 and a
                # TypeError on 3.11.
                raise _fail(n, "a slice is only allowed as the whole index: x[a:b:c]")
            elif isinstance(n, ast.Attribute) and id(n) not in self.method_attrs:
                raise _fail(n, f"attribute access .{n.attr} is not allowed")
            elif isinstance(n, ast.Call):
                self.call(n)
            elif isinstance(n, ast.Dict) and any(k is None for k in n.keys):
                raise _fail(n, "dict unpacking is not allowed")

    def call(self, node: ast.Call) -> None:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise _fail(node, "*args and **kwargs are not allowed")
        if len(node.args) + len(node.keywords) > MAX_ARGS:
            raise _fail(node, f"more than {MAX_ARGS} arguments in a call")
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr not in METHODS:
                raise _fail(func, f"method .{func.attr}() is not allowed")
            if node.keywords:
                raise _fail(node, "keyword arguments to methods are not allowed")
            self.method_attrs.add(id(func))  # ast.walk visits the Call before this child
        elif not isinstance(func, ast.Name):
            raise _fail(node, "only named functions can be called")


def _assigned_names(fn: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in fn.args.args}
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
    return names


def _check_function(fn: ast.FunctionDef, module_names: set[str]) -> None:
    if fn.decorator_list:
        raise _fail(fn, "decorators are not allowed")
    if fn.returns is not None or any(a.annotation is not None for a in fn.args.args):
        raise _fail(fn, "annotations are not allowed")
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise _fail(fn, "only plain positional parameters are allowed")
    if len(a.args) > MAX_ARGS:
        raise _fail(fn, f"more than {MAX_ARGS} parameters")
    for d in a.defaults:
        if not isinstance(d, ast.Constant):
            raise _fail(d, "default values must be constants")
    _check_name(fn, fn.name)
    for arg in a.args:
        _check_name(arg, arg.arg)
    for n in ast.walk(fn):
        if isinstance(n, ast.FunctionDef) and n is not fn:
            raise _fail(n, "nested functions are not allowed")
    _Checker(module_names, _assigned_names(fn)).body(fn.body, 0)


def _check_module(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            _check_name(node, node.targets[0].id)
            for n in ast.walk(node.value):
                if not isinstance(n, (ast.Constant, ast.Tuple, ast.Load, ast.UnaryOp, ast.USub)):
                    raise _fail(n, "module-level values must be constants")
            if _tuple_depth(node.value) > MAX_TUPLE_DEPTH:
                raise _fail(node, f"tuple nested deeper than {MAX_TUPLE_DEPTH}")
            names.add(node.targets[0].id)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # docstring
        else:
            raise _fail(node, f"only functions and constants at module level, not {type(node).__name__}")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            _check_function(node, names)
    if not any(isinstance(n, ast.FunctionDef) and not n.name.startswith("_") for n in tree.body):
        raise CompileError("a contract needs at least one entry point (a function without a leading _)", 1, 0)
    return names


# --- instrumentation -------------------------------------------------------------------------


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=RESERVED + name, ctx=ast.Load()), args=list(args), keywords=[])


def _tick(gas: int, mem: int) -> ast.stmt:
    args = [ast.Constant(gas)] + ([ast.Constant(mem)] if mem else [])
    return ast.Expr(_call("tick", *args))


def _small_constant(node: ast.expr) -> bool:
    """A literal that any VM value compares with in O(1): an int, bool or None, or a short
    str/bytes (CPython compares lengths first, then at most this many bytes)."""
    if not isinstance(node, ast.Constant):
        return False
    v = node.value
    return not isinstance(v, (str, bytes)) or len(v) <= 64


def _constant_key(node: ast.expr) -> bool:
    """A literal index or key whose hashing and comparison cost O(1): an int, or a short str or
    bytes."""
    return isinstance(node, ast.Constant) and type(node.value) in (int, str, bytes) and _small_constant(node)


class _Rewriter(ast.NodeTransformer):
    """Routes operations with data-dependent cost or size through `vm.runtime` helpers."""

    def __init__(self) -> None:
        self.temps = 0

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        # Which comparisons stay native is decided on the source's own operands: one side a
        # small literal, or a membership test in a short display of small literals.
        operands = [node.left, *node.comparators]
        native = []
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            if isinstance(op, (ast.Is, ast.IsNot)):
                native.append(True)
            elif isinstance(op, (ast.In, ast.NotIn)):
                native.append(isinstance(right, (ast.Tuple, ast.List)) and len(right.elts) <= 16
                              and all(_small_constant(e) for e in right.elts))
            else:
                native.append(_small_constant(left) or _small_constant(right))
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        if all(native):
            return node
        # a < b < c  ->  _vm_lt(a, (_vm_c1 := b)) and _vm_lt(_vm_c1, c): each operand once.
        parts: list[ast.expr] = []
        left = operands[0]
        for i, op in enumerate(node.ops):
            right = operands[i + 1]
            following = right
            if i + 1 < len(node.ops) and not isinstance(right, (ast.Constant, ast.Name)):
                self.temps += 1
                name = f"{RESERVED}c{self.temps}"
                right = ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=right)
                following = ast.Name(id=name, ctx=ast.Load())
            if native[i]:
                parts.append(ast.Compare(left=left, ops=[op], comparators=[right]))
            else:
                parts.append(_call(_CMPOPS[type(op)], left, right))
            left = following
        result = parts[0] if len(parts) == 1 else ast.BoolOp(op=ast.And(), values=parts)
        return ast.copy_location(result, node)

    def visit_List(self, node: ast.List) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return ast.copy_location(_call("list", *node.elts), node)
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and not all(isinstance(e, ast.Constant) for e in node.elts):
            return ast.copy_location(_call("tuple", *node.elts), node)
        return node  # a target, or a constant tuple of scalars

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        flat = [x for pair in zip(node.keys, node.values) for x in pair]
        return ast.copy_location(_call("dict", *flat), node)  # type: ignore[arg-type]

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute):  # x.append(v) -> _vm_m_append(x, v)
            return ast.copy_location(_call("m_" + func.attr, func.value, *node.args), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(_call(_BINOPS[type(node.op)], node.left, node.right), node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Invert):
            return ast.copy_location(_call("invert", node.operand), node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load):
            return node
        if isinstance(node.slice, ast.Slice):
            s = node.slice
            none = ast.Constant(None)
            return ast.copy_location(_call("slice", node.value, s.lower or none, s.upper or none, s.step or none), node)
        if _constant_key(node.slice):
            return node  # hashing a small literal key costs O(1)
        return ast.copy_location(_call("getitem", node.value, node.slice), node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        target = node.targets[0]
        if isinstance(target, ast.Subscript):
            return ast.copy_location(ast.Expr(_call("setitem", target.value, target.slice, node.value)), node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        load = ast.Name(id=node.target.id, ctx=ast.Load())
        value = _call(_BINOPS[type(node.op)], load, node.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_Delete(self, node: ast.Delete) -> ast.AST:
        self.generic_visit(node)
        stmts = [ast.Expr(_call("delitem", t.value, t.slice)) for t in node.targets]
        return [ast.copy_location(s, node) for s in stmts]


def _meter_body(stmts: list[ast.stmt], extra_gas: int = 0) -> list[ast.stmt]:
    """Insert one gas charge before each straight-line run and recurse into compound bodies."""
    out: list[ast.stmt] = []
    run: list[ast.stmt] = []
    gas, mem = extra_gas, 0

    def flush() -> None:
        nonlocal gas, mem, run
        if run or gas:
            out.append(_tick(gas, mem))
            out.extend(run)
        run, gas, mem = [], 0, 0

    for s in stmts:
        if isinstance(s, _SIMPLE):
            ops, m = _ops_in(s)
            gas += GAS["statement"] + GAS["operation"] * ops
            mem += m
            run.append(s)
            continue
        header = s.test if isinstance(s, (ast.If, ast.While)) else s.iter  # type: ignore[union-attr]
        ops, m = _ops_in(header)
        if isinstance(s, ast.While):
            gas += GAS["statement"] + GAS["operation"] * ops  # first test
            s.body = _meter_body(s.body, GAS["loop_iteration"] + GAS["operation"] * ops)
        elif isinstance(s, ast.For):
            gas += GAS["statement"] + GAS["operation"] * ops
            s.body = _meter_body(s.body, GAS["loop_iteration"])
        else:
            gas += GAS["statement"] + GAS["operation"] * ops
            s.body = _meter_body(s.body)
            s.orelse = _meter_body(s.orelse) if s.orelse else []
        mem += m
        run.append(s)
        flush()
    flush()
    return out or [ast.Pass()]


def _guard_function(fn: ast.FunctionDef) -> None:
    """Wrap the body in the call-depth guard: `_vm_enter(); try: body finally: _vm_leave()`."""
    body = _meter_body(fn.body)
    fn.body = [ast.Expr(_call("enter")),
               ast.Try(body=body, handlers=[], orelse=[], finalbody=[ast.Expr(_call("leave"))])]


def _compile(source: str) -> CompiledContract:
    with warnings.catch_warnings():  # SyntaxWarnings differ between versions; never errors
        warnings.simplefilter("ignore")
        return _checked_and_compiled(source)


def _checked_and_compiled(source: str) -> CompiledContract:
    tree = _parse(source)
    nodes = _check_tree(tree)
    _check_module(tree)
    for node in tree.body:  # gas is counted on the checked tree: what the source evaluates
        if isinstance(node, ast.FunctionDef):
            _guard_function(node)
    tree = _Rewriter().visit(tree)
    ast.fix_missing_locations(tree)
    code_hash = hashlib.sha256(source.encode()).digest()
    try:
        code = compile(tree, f"<contract {code_hash.hex()[:12]}>", "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # a CPython limit the checks missed
        raise _outside(f"compile: {type(exc).__name__}") from None
    entries = frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_"))
    return CompiledContract(code_hash, code, entries, nodes)


def compile_contract(source: str) -> CompiledContract:
    """Check `source` and return its instrumented code; raises CompileError. Runs in a fresh
    thread: parsing, the checks and CPython's compiler recurse over the tree, and must find the
    same headroom whoever calls."""
    return _in_fresh_thread(lambda: _compile(source))

"""Run ``@micropython.viper`` functions on CPython with the ESP32's 32-bit integer semantics.

Viper integers are machine words: on the ESP32 (Xtensa) every ``+ - * << ~`` wraps
modulo 2**32, while the x64 unix port has 64-bit words and hides the overflow. The
decorator here recompiles the function from its source with every integer operation
rewritten to one of three modes, chosen when the function is called:

- ``esp32`` (default): wrap to signed 32 bits, the answer the device gives;
- ``strict``: raise ``Overflow32Error`` on any result outside signed 32 bits;
- ``x64``: wrap to signed 64 bits, the answer the x64 unix port gives.

It also enforces viper rules that would otherwise only show up on the device: no
default argument values and integer literals that fit a 32-bit word.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import os
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

MODES = ("esp32", "strict", "x64")
_mode = os.environ.get("HEARD_VIPER_MODE", "esp32")
if _mode not in MODES:
    raise ValueError(f"HEARD_VIPER_MODE must be one of {', '.join(MODES)}, not {_mode!r}")

_INT_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.LShift, ast.RShift,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.FloorDiv, ast.Mod,
)
_HELPER = "_heard_w"


class Overflow32Error(ArithmeticError):
    """An integer result in a viper function does not fit a signed 32-bit machine word."""


class ViperRuleError(SyntaxError):
    """The function breaks a rule of the viper emitter (it would fail on the device)."""


def get_mode() -> str:
    return _mode


def set_mode(mode: str) -> None:
    global _mode
    if mode not in MODES:
        raise ValueError(f"viper mode must be one of {', '.join(MODES)}, not {mode!r}")
    _mode = mode


@contextlib.contextmanager
def viper_mode(mode: str) -> Iterator[None]:
    """Run a block with another integer mode, e.g. ``with viper_mode("strict"):``."""
    previous = _mode
    set_mode(mode)
    try:
        yield
    finally:
        set_mode(previous)


def _wrap32(v: Any) -> Any:
    if type(v) is int:
        return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    return v


def _wrap64(v: Any) -> Any:
    if type(v) is int:
        return ((v + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
    return v


def _strict32(v: Any) -> Any:
    if type(v) is int and not -0x80000000 <= v <= 0x7FFFFFFF:
        raise Overflow32Error(
            f"{v} does not fit a 32-bit viper int (the ESP32 would compute {_wrap32(v)})"
        )
    return v


_WRAPPERS: dict[str, Callable[[Any], Any]] = {"esp32": _wrap32, "strict": _strict32, "x64": _wrap64}


class _Rewriter(ast.NodeTransformer):
    """Wraps every integer-producing expression in a call to the mode's helper."""

    def __init__(self, where: str):
        self.where = where

    def _call(self, node: ast.expr) -> ast.expr:
        return ast.copy_location(
            ast.Call(func=ast.Name(_HELPER, ast.Load()), args=[node], keywords=[]), node
        )

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        # On a 32-bit port a literal beyond the 31-bit small-int range is a heap object,
        # and mpy-cross -march=xtensawin rejects arithmetic between it and a viper int.
        if type(node.value) is int and not -0x40000000 <= node.value <= 0x3FFFFFFF:
            raise ViperRuleError(
                f"{self.where}: integer literal {node.value:#x} is outside the 32-bit small-int "
                "range (-2**30 .. 2**30-1); build it with shifts or keep it out of viper"
            )
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return self._call(node) if isinstance(node.op, _INT_OPS) else node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.USub, ast.Invert)):
            return self._call(node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "int":
            return self._call(node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, _INT_OPS):
            return node
        load = _as_load(node.target)
        value = self._call(ast.copy_location(ast.BinOp(load, node.op, node.value), node))
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)


def _as_load(target: ast.expr) -> ast.expr:
    clone = ast.parse(ast.unparse(target), mode="eval").body
    for sub in ast.walk(clone):
        if hasattr(sub, "ctx"):
            sub.ctx = ast.Load()
    return ast.copy_location(clone, target)


def _compile(func: Callable[..., Any], mode: str) -> Callable[..., Any]:
    source = textwrap.dedent(inspect.getsource(func))
    where = f"{func.__module__}.{func.__qualname__}"
    tree = ast.parse(source)
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise ViperRuleError(f"{where}: @micropython.viper applies to plain functions only")
    if fdef.args.defaults or fdef.args.kw_defaults:
        raise ViperRuleError(f"{where}: viper functions cannot have default argument values")
    fdef.decorator_list = []
    int_args = [
        a.arg
        for a in fdef.args.args
        if isinstance(a.annotation, ast.Name) and a.annotation.id == "int"
    ]
    rewritten = _Rewriter(where).visit(fdef)
    # Integer arguments become machine words on entry, as the viper prologue does.
    entry = [ast.parse(f"{name} = {_HELPER}(int({name}))").body[0] for name in int_args]
    rewritten.body[0:0] = entry
    module = ast.parse(f"def _heard_factory({_HELPER}):\n    return {fdef.name}\n")
    factory = module.body[0]
    assert isinstance(factory, ast.FunctionDef)
    factory.body.insert(0, rewritten)
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, func.__code__.co_firstlineno - 1)
    namespace: dict[str, Any] = {}
    code = compile(module, inspect.getsourcefile(func) or "<viper>", "exec")
    exec(code, func.__globals__, namespace)  # noqa: S102 - recompiling our own source
    return namespace["_heard_factory"](_WRAPPERS[mode])


def viper(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``@micropython.viper`` stand-in: dispatches to a per-mode compiled copy."""
    compiled: dict[str, Callable[..., Any]] = {}
    _compile(func, "esp32")  # check the viper rules at import time, as mpy-cross would

    @functools.wraps(func)
    def dispatch(*args: Any) -> Any:
        impl = compiled.get(_mode)
        if impl is None:
            impl = compiled[_mode] = _compile(func, _mode)
        return impl(*args)

    dispatch.__viper__ = True  # type: ignore[attr-defined]
    return dispatch

"""A corpus of CPython sandbox escapes and resource attacks. Each is rejected at deploy with a
position, or stopped at run time by gas or a limit; the node process carries on unharmed."""

from __future__ import annotations

import pytest

from tests.vm.helpers import GAS, Harness
from vm.compiler import OUTSIDE, compile_contract
from vm.errors import CompileError

# Rejected by the compiler: (source of a contract, words the reason must contain).
DEPLOY_TIME = [
    ("def f():\n    return ().__class__.__bases__[0].__subclasses__()\n", "not allowed"),
    ("def f(x):\n    return x.__class__\n", "attribute"),
    ("def f():\n    return getattr(1, '__class__')\n", "unknown name"),
    ("import os\ndef f():\n    return 1\n", "Import is not allowed"),
    ("from os import system\ndef f():\n    return 1\n", "ImportFrom"),
    ("def f():\n    import os\n    return 1\n", "Import"),
    ("def f():\n    return __import__('os')\n", "reserved"),
    ("def f():\n    return eval('1')\n", "unknown name"),
    ("def f():\n    exec('x = 1')\n", "unknown name"),
    ("def f():\n    return open('/etc/passwd')\n", "unknown name"),
    ("def f():\n    return globals()\n", "unknown name"),
    ("def f():\n    return locals()\n", "unknown name"),
    ("def f():\n    return vars()\n", "unknown name"),
    ("def f():\n    return compile('1', 'x', 'eval')\n", "unknown name"),
    ("def f():\n    return type(1)\n", "unknown name"),
    ("def f():\n    return object\n", "unknown name"),
    ("def f():\n    return '{0.__class__}'.format(1)\n", "method .format"),
    ("def f(x):\n    return f'{x.__class__}'\n", "JoinedStr"),
    ("def f():\n    g = lambda: 1\n    return g\n", "Lambda"),
    ("def f():\n    return [x for x in range(3)]\n", "ListComp"),
    ("def f():\n    return (x for x in range(3))\n", "GeneratorExp"),
    ("def f():\n    yield 1\n", "Yield"),
    ("async def f():\n    return 1\n", "AsyncFunctionDef"),
    ("class A:\n    pass\ndef f():\n    return 1\n", "ClassDef"),
    ("def f():\n    try:\n        return 1\n    finally:\n        return 2\n", "Try"),
    ("def f():\n    with x:\n        pass\n", "With"),
    ("def f():\n    raise SystemExit\n", "Raise"),
    ("def f():\n    global y\n    y = 1\n", "Global"),
    ("def f():\n    return 1.5\n", "floats"),
    ("def f():\n    return 7 / 2\n", "true division"),
    ("def f():\n    return 1e300\n", "floats"),
    ("def f():\n    return 2j\n", "complex"),
    ("def f():\n    return sys._getframe()\n", "not allowed"),
    ("def f(g):\n    return g.__globals__\n", "attribute"),
    ("def f(g):\n    return g.gi_frame\n", "attribute"),
    ("def f():\n    return [].append.__self__\n", "attribute"),
    ("def f():\n    return str.mro()\n", "method .mro"),
    ("def g(*a):\n    return a\ndef f():\n    return g(1)\n", "vararg"),
    ("def f(x):\n    return len(*x)\n", "Starred"),
    ("def f(x):\n    return dict(**x)\n", "*args"),
    ("def f():\n    return {1, 2}\n", "Set"),
    ("def f():\n    return (y := 3)\n", "NamedExpr"),
    ("@staticmethod\ndef f():\n    return 1\n", "decorator_list"),
    ("def f(x=open):\n    return x\n", "constants"),
    ("def f(x: print = 1):\n    return x\n", "annotation"),
    ("X = open('/etc/passwd')\ndef f():\n    return 1\n", "constants"),
    ("def f():\n    return 1\nf()\n", "module level"),
    ("def f():\n    assert False\n", "Assert"),
    ("def f():\n    return breakpoint()\n", "unknown name"),
    ("def f():\n    return hash('x')\n", "unknown name"),
    ("def f():\n    return id(1)\n", "unknown name"),
    ("def f():\n    print('leak')\n", "unknown name"),
    ("def f(x):\n    return x is 1000\n", "'is'"),
    ("def f():\n    _vm_tick = 1\n    return _vm_tick\n", "reserved"),
    ("def f():\n    def g():\n        return 1\n    return g()\n", "nested"),
    ("def f():\n    return 1 << 300 if False else (1 << 2) ** 0 + 115792089237316195423570985008687907853269984665640564039457584007913129639937\n", "wider"),
    ("def f(:\n", "syntax"),
    ("def f(s):\n    return s.upper()\n", "method .upper"),
]

# Stopped at run time: (source with entry point `f()`, receipt reason prefix).
RUN_TIME = [
    ("def f():\n    while True:\n        pass\n", "out-of-gas"),
    ("def f():\n    n = 0\n    for i in range(10 ** 18):\n        n += 1\n", "out-of-gas"),
    ("def f():\n    return f()\n", "limit"),
    ("def f():\n    return 2 ** (10 ** 9)\n", "limit"),
    ("def f():\n    x = 10 ** 70\n    return x * x * x * x\n", "limit"),
    ("def f():\n    return 1 << (10 ** 9)\n", "limit"),
    ("def f():\n    return b'x' * (10 ** 9)\n", "limit"),
    ("def f():\n    return 'ab' * (10 ** 8)\n", "limit"),
    ("def f():\n    x = [0]\n    while True:\n        x = x + x\n", "limit"),
    ("def f():\n    return list(range(10 ** 9))\n", "limit"),
    ("def f():\n    return max(range(10 ** 15))\n", "limit"),
    ("def f():\n    return sorted(range(10 ** 9))\n", "limit"),
    ("def f():\n    x = []\n    while True:\n        x.append(1)\n", "limit"),
    ("def f():\n    d = {}\n    i = 0\n    while True:\n        d[i] = i\n        i += 1\n", "limit"),
    ("def f():\n    return '%s' % 1\n", "error: TypeError"),
    ("def f():\n    return 1 // 0\n", "error: ZeroDivisionError"),
    ("def f():\n    return [1][5]\n", "error: IndexError"),
    ("def f():\n    return {}['missing']\n", "error: KeyError"),
    ("def f():\n    return 1 < 'a'\n", "error: TypeError"),
    ("def f():\n    return 2 ** -1\n", "error: ValueError"),
    ("def f():\n    return ~(2 ** 255) * 2\n", "limit"),
    ("def f():\n    put('k', 2 ** 100)\n", "limit"),
    ("def f():\n    return {'a': 1}\n", "error: TypeError"),
    ("def f():\n    x = []\n    for i in range(40):\n        x = [x]\n    put('deep', x)\n", "limit"),
    ("def f():\n    return scan('', 100000)\n", "limit"),
    ("def f():\n    for i in range(100):\n        emit('e', b'x' * 2000)\n", "limit"),
    ("def f():\n    return call(self_address(), 'f')\n", "limit"),
]


@pytest.mark.parametrize("source, reason", DEPLOY_TIME, ids=[f"deploy-{i}" for i in range(len(DEPLOY_TIME))])
def test_rejected_at_deploy(source: str, reason: str) -> None:
    with pytest.raises(CompileError) as info:
        compile_contract(source)
    assert reason.lower() in str(info.value).lower(), str(info.value)
    # A position only where every CPython version reports the same one.
    assert info.value.line >= 1 or info.value.reason in (OUTSIDE, "source larger than 65536 bytes")


def test_deploy_rejection_reaches_a_receipt() -> None:
    h = Harness()
    _, receipt = h.deploy(DEPLOY_TIME[0][0])
    assert receipt.status == 1 and receipt.reason.startswith("compile: line 2")


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness()


@pytest.mark.parametrize("source, reason", RUN_TIME, ids=[f"run-{i}" for i in range(len(RUN_TIME))])
def test_stopped_at_run_time(harness: Harness, source: str, reason: str) -> None:
    address, deployed = harness.deploy(source)
    assert deployed.status == 0, deployed.reason
    receipt = harness.call(address, "f")
    assert receipt.status == 1 and receipt.reason.startswith(reason), receipt.reason
    assert receipt.gas_used <= GAS
    assert harness.chain.store.block(harness.chain.height) is not None  # the chain moved on


def test_corpus_size() -> None:
    assert len(DEPLOY_TIME) + len(RUN_TIME) >= 40


def test_node_unharmed_after_the_corpus(harness: Harness) -> None:
    address, _ = harness.deploy("def ok(a, b):\n    return a + b\n")
    assert harness.result(harness.call(address, "ok", 2, 3)) == 5
    assert harness.chain.audit() == harness.chain.height  # every block replays identically

#!/usr/bin/env python
"""On-demand mutation testing of the exactly-once code (not part of CI or the normal suite).

Each mutant is one small change to one module (a flipped comparison, ``and``/``or`` swapped, a negated
condition, a constant nudged, an enum member swapped for another, a deleted ``raise`` or call, a
``return`` of None, an element dropped from a module-level table), written into a private copy of the
repository; the module's own subset of tests then runs there with ``pytest -x``. A mutant the tests do
not notice is a *survivor*. Module-level tables (the state table, the event tables) are mutated too.

Usage::

    python scripts/mutate.py                       # every module below
    python scripts/mutate.py engine/outcome domain/states --workers 2
    python scripts/mutate.py engine/sending --list  # the mutants only, no test run

It prints the score per module and every survivor (file:line, the operator, the changed line).
Equivalent survivors, with the reason each changes nothing observable, are listed in
tests/mutation_survivors.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
import enum
import importlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENGINE_CORE = ["tests/engine/test_outcome_classify.py", "tests/engine/test_exactly_once_mutations.py"]
RECOVERY_TESTS = ["tests/engine/test_recovery_mutations.py", "tests/engine/test_exactly_once_mutations.py",
                  "tests/engine/test_decoys.py", "tests/engine/test_claim_owner.py",
                  "tests/engine/test_recovery_settled_meanwhile.py", "tests/engine/test_request_trace.py",
                  "tests/engine/test_notice_evidence_market.py"]
# Each module, and the tests that should notice any change to it (fastest and most telling first).
MODULES: dict[str, list[str]] = {
    "engine/outcome": ENGINE_CORE + ["tests/engine/test_submit.py"],
    "engine/sending": ENGINE_CORE + ["tests/engine/test_recovery_mutations.py", "tests/engine/test_submit.py",
                                     "tests/engine/test_claim_owner.py"],
    "engine/recovery": RECOVERY_TESTS,
    "engine/resolution": RECOVERY_TESTS,
    "ledger/requests": ["tests/ledger/test_ledger_requests.py", "tests/ledger/test_state_table_via_ledger.py",
                        "tests/ledger", "tests/engine/test_watch_plain_fills.py"],  # (orders_by_numbers: the reference burst_orders is pinned to)
    "domain/states": ["tests/domain/test_states.py", "tests/ledger/test_state_table_via_ledger.py",
                      "tests/engine/test_state_groups_via_engine.py"],
    "domain/validation": ["tests/domain/test_validation.py", "tests/domain/test_validation_edges.py"],
    "domain/idempotency": ["tests/domain/test_idempotency_key.py", "tests/domain/test_idempotency_naive_tz.py"],
    "kis/errors_map": ["tests/engine/test_outcome_classify.py", "tests/kis/test_errors_map_table.py",
                       "tests/kis/test_kis_errors.py"],
}

# Modules whose subset runs in stages: a fast first stage notices most mutants without collecting (and
# importing) the slower tests; only a mutant it misses goes on to the next stage.
STAGES: dict[str, list[list[str]]] = {
    "domain/states": [MODULES["domain/states"][:1], MODULES["domain/states"][1:]],
    # the crash test at after_claim (a subprocess) is the one that sees send_claimed_new's crash point
    "engine/resolution": [RECOVERY_TESTS,
                          ["tests/engine/test_processes.py::test_crash_then_reconcile_agrees_with_the_broker"
                           "[after_claim-0]"]],
}

COMPARE_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
              ast.Mod: ast.Mult, ast.Pow: ast.Mult}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int
    line: int
    operator: str
    before: str
    after: str

    def describe(self) -> str:
        return f"{self.module}.py:{self.line} [{self.operator}] {self.before!r} -> {self.after!r}"


def _enum_members(module_name: str) -> dict[str, list[str]]:
    """Enum classes visible in the module's namespace, by name, with their member names."""
    mod = importlib.import_module(module_name)
    found = {}
    for name, value in vars(mod).items():
        if isinstance(value, type) and issubclass(value, enum.Enum) and len(value.__members__) > 1:
            found[name] = list(value.__members__)
    return found


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first))
    return ids


class _Sites(ast.NodeTransformer):
    """Walks the tree; counts mutation sites and applies the one numbered ``target`` (None: count only)."""

    def __init__(self, enums: dict[str, list[str]], docstrings: set[int], target: int | None):
        self.enums, self.docstrings, self.target = enums, docstrings, target
        self.count, self.sites = 0, []
        self.module_level_depth = 0

    def _site(self, node: ast.AST, operator: str, make) -> ast.AST:
        index = self.count
        self.count += 1
        if self.target is None:
            self.sites.append((getattr(node, "lineno", 0), operator, node, make))
            return node
        if index == self.target:
            return make()
        return node

    # --- expressions
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = COMPARE_SWAP.get(type(op))
            if swap:
                def make(i=i, swap=swap):
                    new = copy.deepcopy(node)
                    new.ops[i] = swap()
                    return new
                result = self._site(node, f"compare {type(op).__name__}->{swap.__name__}", make)
                if result is not node:
                    return result
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        result = self._site(node, f"boolop ->{other.__name__}",
                            lambda: ast.BoolOp(op=other(), values=copy.deepcopy(node.values)))
        if result is not node:
            return result
        for i in range(len(node.values)):  # drop one operand
            def make(i=i):
                values = [copy.deepcopy(v) for j, v in enumerate(node.values) if j != i]
                return values[0] if len(values) == 1 else ast.BoolOp(op=type(node.op)(), values=values)
            result = self._site(node, f"boolop drop operand {i + 1}", make)
            if result is not node:
                return result
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return self._site(node, "remove not", lambda: copy.deepcopy(node.operand))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = BINOP_SWAP.get(type(node.op))
        textual = [n for n in (node.left, node.right)
                   if isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant) and isinstance(n.value, str))]
        if swap and not textual:
            return self._site(node, f"binop {type(node.op).__name__}->{swap.__name__}",
                              lambda: ast.BinOp(left=copy.deepcopy(node.left), op=swap(),
                                                right=copy.deepcopy(node.right)))
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            return self._site(node, "flip bool", lambda: ast.Constant(value=not value))
        if isinstance(value, int):
            return self._site(node, "int +1", lambda: ast.Constant(value=value + 1))
        if isinstance(value, float):
            return self._site(node, "float *2", lambda: ast.Constant(value=value * 2 if value else 1.0))
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id in self.enums and isinstance(node.ctx, ast.Load):
            members = self.enums[node.value.id]
            if node.attr in members:
                # small enums (Outcome, OwnerState): every other member; big ones (states, events): the next
                at = members.index(node.attr)
                others = [m for m in members if m != node.attr] if len(members) <= 5 else \
                    [members[(at + 1) % len(members)]]
                for other in others:
                    result = self._site(node, f"enum {node.value.id}.{node.attr}->{other}",
                                        lambda other=other: ast.Attribute(
                                            value=ast.Name(id=node.value.id, ctx=ast.Load()), attr=other,
                                            ctx=ast.Load()))
                    if result is not node:
                        return result
        return node

    def _negate_test(self, node):
        if not isinstance(node.test, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            def make():
                new = copy.deepcopy(node)
                new.test = ast.UnaryOp(op=ast.Not(), operand=new.test)
                return new
            return self._site(node, "negate condition", make)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        return self._negate_test(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return node
        return self._negate_test(node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        return self._negate_test(node)

    # --- statements
    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        return self._site(node, "delete raise", lambda: ast.Pass())

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if id(node) in self.docstrings:
            return node
        self.generic_visit(node)
        if isinstance(node.value, ast.Call):
            return self._site(node, "delete call", lambda: ast.Pass())
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            return self._site(node, "return None", lambda: ast.Return(value=ast.Constant(value=None)))
        return node

    # --- module-level tables: drop one element of a set/list/tuple/dict literal
    def _drop_elements(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"frozenset", "set",
                                                                                              "dict", "tuple"} \
                and node.args:
            inner = self._drop_elements(node.args[0])
            if inner is not node.args[0]:
                new = copy.deepcopy(node)
                new.args[0] = inner
                return new
            return node
        if isinstance(node, (ast.Set, ast.List, ast.Tuple)) and len(node.elts) > 1:
            for i in range(len(node.elts)):
                def make(i=i):
                    new = copy.deepcopy(node)
                    del new.elts[i]
                    return new
                result = self._site(node.elts[i], f"table drop element {i + 1}", make)
                if result is not node.elts[i]:
                    return result
        if isinstance(node, ast.Dict) and len(node.keys) > 1:
            for i in range(len(node.keys)):
                def make(i=i):
                    new = copy.deepcopy(node)
                    del new.keys[i], new.values[i]
                    return new
                result = self._site(node.keys[i] or node.values[i], f"table drop entry {i + 1}", make)
                if result is not (node.keys[i] or node.values[i]):
                    return result
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        for stmt in node.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                stmt.value = self._drop_elements(stmt.value)
        self.generic_visit(node)
        return node


def module_path(module: str) -> Path:
    return ROOT / "kisoms" / f"{module}.py"


def enumerate_mutants(module: str) -> tuple[str, list[Mutant]]:
    source = module_path(module).read_text()
    enums = _enum_members("kisoms." + module.replace("/", "."))
    tree = ast.parse(source)
    sites = _Sites(enums, _docstring_ids(tree), None)
    sites.visit(tree)
    lines = source.splitlines()
    mutants = []
    for index, (line, operator, _node, _make) in enumerate(sites.sites):
        mutated = mutate_source(source, enums, index)
        if mutated is None:
            continue
        before = lines[line - 1].strip() if line else ""
        after = _changed_line(source, mutated) or "(table element dropped)"
        mutants.append(Mutant(module, index, line, operator, before, after))
    return source, mutants


def mutate_source(source: str, enums: dict[str, list[str]], index: int) -> str | None:
    tree = ast.parse(source)
    sites = _Sites(enums, _docstring_ids(tree), index)
    tree = ast.fix_missing_locations(sites.visit(tree))
    text = ast.unparse(tree)
    return None if text == ast.unparse(ast.parse(source)) else text


def _changed_line(original: str, mutated: str) -> str:
    a = ast.unparse(ast.parse(original)).splitlines()
    b = mutated.splitlines()
    for x, y in zip(a, b):
        if x != y:
            return y.strip()[:120]
    return ""


def _workspace(n: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"kisoms-mutate-{n}-"))
    for name in ("kisoms", "tests", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, path / name)
    return path


PRELOAD = ("pytest", "_pytest.python", "_pytest.fixtures", "pytest_httpx", "pytest_timeout", "pydantic", "httpx",
           "aiohttp", "aiohttp.web", "typer", "rich", "sqlite3", "asyncio", "hypothesis", "hypothesis.strategies")


def _preload() -> None:
    """Third-party imports done once, before the workers fork (kisoms itself is imported fresh per mutant)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _pytest_in_child(workdir: str, tests: list[str]) -> None:
    """In a forked child: import kisoms from ``workdir`` and run the tests; exits with pytest's code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        for name in [m for m in sys.modules if m == "kisoms" or m.startswith("kisoms.")]:
            del sys.modules[name]
        os.chdir(workdir)
        sys.path.insert(0, workdir)
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        import pytest

        code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--timeout", "60", *tests])
    except BaseException:
        code = 99
    os._exit(int(code))


def run_tests(workdir: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """'killed', 'survived', 'error' or 'timeout' (counted as killed, printed), and the time it took."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _pytest_in_child(str(workdir), tests)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > timeout:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return {0: "survived", 4: "error", 5: "error", 99: "error"}.get(code, "killed"), time.monotonic() - start


def _job(job: tuple) -> tuple[int, str]:
    """One mutant in one worker process (each worker owns one workspace). ``source`` is the module as it
    was when the mutants were numbered; ``stages`` run in turn until one notices the mutant."""
    module, index, source, stages, timeout = job
    ws = Path(_WORKER["ws"])
    target = ws / "kisoms" / f"{module}.py"
    try:
        target.write_text(mutate_source(source, _enum_members_cached(module), index))
        for tests in stages:
            status, _ = run_tests(ws, tests, timeout)
            if status != "survived":
                break
    finally:
        target.write_text(source)
    return index, status


_WORKER: dict = {}
_ENUMS: dict = {}


def _enum_members_cached(module: str) -> dict[str, list[str]]:
    if module not in _ENUMS:
        _ENUMS[module] = _enum_members("kisoms." + module.replace("/", "."))
    return _ENUMS[module]


def _init_worker(queue) -> None:
    _WORKER["ws"] = queue.get()


def run_module(module: str, workspaces: list[Path], args) -> tuple[list[Mutant], list[Mutant]]:
    source, mutants = enumerate_mutants(module)
    if args.only:
        mutants = [m for m in mutants if m.index in args.only]
    tests = args.tests or MODULES[module]
    stages = [args.tests] if args.tests else STAGES.get(module, [tests])
    status, baseline = ("survived", 60.0) if args.no_baseline else run_tests(workspaces[0], tests,
                                                                              timeout=args.max_baseline)
    if status != "survived":
        raise SystemExit(f"{module}: the test subset fails without any mutation ({status}); fix that first")
    print(f"{module}: {len(mutants)} mutants, baseline {baseline:.1f}s", flush=True)
    by_index = {m.index: m for m in mutants}
    timeout = max(180.0, 4 * baseline)  # generous: on a loaded machine a slow survivor is not a kill
    queue = multiprocessing.get_context("fork").Queue()
    for ws in workspaces:
        queue.put(str(ws))
    survivors: list[Mutant] = []
    with multiprocessing.get_context("fork").Pool(len(workspaces), initializer=_init_worker,
                                                  initargs=(queue,)) as pool:
        jobs = [(module, m.index, source, stages, timeout) for m in mutants]
        for index, status in pool.imap(_job, jobs):
            mutant = by_index[index]
            if status in ("survived", "error"):
                survivors.append(mutant)
                print(f"  {status.upper()} #{mutant.index} {mutant.describe()}", flush=True)
            elif status == "timeout":  # counted as killed (a mutant may loop for ever), but said, to re-check
                print(f"  TIMEOUT (counted as killed; re-check with --only if the machine was busy) "
                      f"#{mutant.index} {mutant.describe()}", flush=True)
            elif args.verbose:
                print(f"  {status} #{mutant.index} {mutant.describe()}", flush=True)
    return mutants, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), help=f"any of {', '.join(MODULES)}")
    parser.add_argument("--workers", type=int, default=2, help="parallel pytest processes (separate copies)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--only", type=int, nargs="*", help="only these mutant numbers")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every mutant's result")
    parser.add_argument("--max-baseline", type=float, default=900.0)
    parser.add_argument("--tests", nargs="*", help="run these tests instead of the module's subset")
    parser.add_argument("--no-baseline", action="store_true", help="skip the clean run (when checking a few)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {list(MODULES)}")
    if args.list:
        for module in args.modules:
            for mutant in enumerate_mutants(module)[1]:
                print(f"#{mutant.index} {mutant.describe()}")
        return 0
    _preload()
    workspaces = [_workspace(n) for n in range(max(1, args.workers))]
    scores = []
    try:
        for module in args.modules:
            mutants, survivors = run_module(module, workspaces, args)
            killed = len(mutants) - len(survivors)
            score = 100.0 * killed / len(mutants) if mutants else 100.0
            scores.append((module, killed, len(mutants), score, survivors))
            print(f"{module}: {score:.1f}% ({killed}/{len(mutants)} killed)", flush=True)
    finally:
        for ws in workspaces:
            shutil.rmtree(ws, ignore_errors=True)
    print("\nmodule                  score   killed/total")
    for module, killed, total, score, _ in scores:
        print(f"{module:22}  {score:5.1f}%  {killed}/{total}")
    print("\nsurvivors:" if any(s for *_, s in scores) else "\nno survivors")
    for *_, survivors in scores:
        for mutant in survivors:
            print(f"  #{mutant.index} {mutant.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Turn mutmut's results (``mutants/*.meta``) into a Markdown report: scores per module and the surviving mutants.

Run from the repository root after ``mutmut run`` (``make mutation`` does both); prints the report on stdout.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections import Counter
from pathlib import Path

import libcst as cst
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import read_functions_from_index
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

COLUMNS = ["total", "killed", "survived", "no tests", "timeout/suspicious", "not run", "score"]
SCORE = 'Score = (killed + timeout) / mutants run; "no tests" (no test reaches the function) counts as not killed.'
GROUPS = {"edge/": "imagevariants/edge/", "deploy/": "imagevariants/deploy/", "overall": ""}


def bucket(exit_code: int | None) -> str:
    status = status_by_exit_code[exit_code]
    if status in ("killed", "survived", "no tests"):
        return status
    return "not run" if status in ("not checked", "check was interrupted by user") else "timeout/suspicious"


def row(name: str, counts: Counter[str]) -> str:
    run = counts["total"] - counts["not run"]
    killed = counts["killed"] + counts["timeout"]
    score = f"{100 * killed / run:.1f}%" if run else "-"
    cells = [str(counts[column]) for column in COLUMNS[:-1]] + [score]
    return f"| {name} | " + " | ".join(cells) + " |"


def def_lines(path: Path) -> tuple[dict[str, int], list[str]]:
    """``Class.method`` or ``function`` -> line of its ``def``; and the decorated functions, which mutmut skips."""
    found: dict[str, int] = {}
    skipped: list[str] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found[prefix + node.name] = node.lineno
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if decorators and decorators not in (["staticmethod"], ["classmethod"]):
                    skipped.append(f"{prefix}{node.name} (line {node.lineno}, @{', @'.join(decorators)})")
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(ast.parse(path.read_text()).body, "")
    return found, skipped


def describe(path: Path, key: str, lines: dict[str, int]) -> tuple[str, int, str]:
    """The surviving mutant's function, the source line it changes and its change in one line."""
    function, cls = orig_function_and_class_names_from_key(key)
    qualified = f"{cls}.{function}" if cls else function
    functions = read_functions_from_index(key, path)
    if functions is None:
        return qualified, lines.get(qualified, 0), "(diff unavailable)"
    before, after = (cst.Module([f]).code.strip().splitlines() for f in functions)
    def_index = next(i for i, text in enumerate(before) if text.lstrip().startswith(("def ", "async def ")))
    changes = [op for op in difflib.SequenceMatcher(a=before, b=after).get_opcodes() if op[0] != "equal"]
    first = changes[0][1] if changes else def_index
    removed = " ⏎ ".join(before[i].strip() for _, i1, i2, _, _ in changes for i in range(i1, i2))
    added = " ⏎ ".join(after[j].strip() for _, _, _, j1, j2 in changes for j in range(j1, j2))
    return qualified, lines.get(qualified, 0) + first - def_index, f"{removed} → {added or '(removed)'}"


def code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def main() -> int:
    per_module: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    not_mutated: list[str] = []
    for path in sorted(walk_mutatable_files()):
        lines, skipped = def_lines(path)
        not_mutated += [f"- {path}: {name}" for name in skipped]
        data = SourceFileMutationData(path=path)
        data.load()
        if not data.exit_code_by_key:
            continue
        counts = Counter(bucket(c) for c in data.exit_code_by_key.values())
        counts["total"] = len(data.exit_code_by_key)
        counts["timeout"] = sum(status_by_exit_code[c] == "timeout" for c in data.exit_code_by_key.values())
        per_module[str(path)] = counts
        found = [(describe(path, k, lines), k) for k, c in data.exit_code_by_key.items() if bucket(c) == "survived"]
        for (function, line, change), key in sorted(found, key=lambda item: (item[0][1], item[1])):
            survivors.append(f"| {path} | {function} | {line} | {code(change)} | {key.rpartition('.')[2]} |")
    if not per_module:
        print("No mutmut results: run `make mutation` first.", file=sys.stderr)
        return 1
    header = "| module | " + " | ".join(COLUMNS) + " |"
    out = ["# Mutation testing report", "", SCORE, "", header, "|---" * (len(COLUMNS) + 1) + "|"]
    out += [row(path, counts) for path, counts in per_module.items()]
    for group, prefix in GROUPS.items():
        total: Counter[str] = Counter()
        for path, counts in per_module.items():
            if path.startswith(prefix):
                total.update(counts)
        out.append(row(f"**{group}**", total))
    out += ["", f"## Surviving mutants ({len(survivors)})", ""]
    out += ["| module | function | line | mutation | mutant |", "|---|---|---|---|---|", *survivors]
    out += ["", "## Not mutated: decorated functions (mutmut leaves them out)", "", *not_mutated]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

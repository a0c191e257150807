"""``benchmarks/run_all.py`` (``make bench``) runs each benchmark as the benchmarks
README gives its command, and a quick run never overwrites the committed results."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402

README = ROOT / "benchmarks" / "README.md"
COMMAND = re.compile(r"^\.venv/bin/python benchmarks/(\w+\.py) (.*)$")


def _readme_commands() -> dict[str, list[str]]:
    """Each benchmark's README command that writes a JSON of benchmarks/results."""
    commands = {}
    for line in README.read_text().splitlines():
        match = COMMAND.match(line.strip())
        if not match:
            continue
        args = shlex.split(match.group(2), comments=True)
        if "--json" in args and args[args.index("--json") + 1].startswith("benchmarks/results/"):
            commands.setdefault(match.group(1), args)
    return commands


def _relative(args: list[str]) -> list[str]:
    out = list(args)
    if "--json" in out:
        i = out.index("--json") + 1
        out[i] = Path(out[i]).resolve().relative_to(ROOT).as_posix()
    return out


def test_the_readme_documents_the_benchmarks_it_quotes():
    assert {"detection.py", "vessels.py", "second_opinion.py", "water.py"} <= set(
        _readme_commands()
    )


@pytest.mark.parametrize("script", sorted(_readme_commands()))
def test_a_full_run_is_the_readme_command(script):
    jobs = {job[0]: job[1:] for job in run_all.benchmark_jobs(quick=False)}
    assert script in jobs
    assert sorted(_relative(jobs[script])) == sorted(_readme_commands()[script])


def test_a_quick_run_writes_elsewhere():
    committed = {p.resolve() for p in (ROOT / "benchmarks" / "results").glob("*.json")}
    for job in run_all.benchmark_jobs(quick=True):
        assert "--json" in job, job
        target = Path(job[job.index("--json") + 1]).resolve()
        assert target.parent == run_all.QUICK_RESULTS.resolve()
        assert target not in committed

"""Sample a process with py-spy while load runs, and summarise the collapsed stacks by
function (self and total) and by package (self)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

PROJECT = str(Path(__file__).resolve().parent.parent) + "/"
# Frames every sample of the main thread passes through (process entry, uvicorn and asyncio
# runners): left out of the inclusive-time list, where they would only crowd out the rest.
_ROOT_FILES = (
    "(uvicorn/main.py)",
    "(uvicorn/server.py)",
    "(uvicorn/_compat.py)",
    "(asyncio/runners.py)",
    "(gateway/cli.py)",
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


async def record(pid: int, seconds: int, out_path: Path, rate: int = 100) -> tuple[int, str]:
    """Run `py-spy record --format raw` on `pid`; returns (exit code, stderr tail)."""
    exe = find_py_spy()
    if exe is None:
        return 127, "py-spy not found (.venv/bin/pip install py-spy)"
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--format",
        "raw",
        "--nonblocking",
        "--full-filenames",
        "--rate",
        str(rate),
        "-d",
        str(seconds),
        "-o",
        str(out_path),
        "-p",
        str(pid),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "py-spy timed out"
    return proc.returncode or 0, output.decode(errors="replace")[-800:]


_STDLIB = re.compile(r"/lib/python3\.\d+/")


def _short(frame: str) -> tuple[str, str, str]:
    """`func (/full/path.py:line)` -> (`func (short/path.py)`, package, `short/path.py:line`)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, "?", frame
    path = match["file"]
    if "site-packages/" in path:
        short = path.split("site-packages/", 1)[1]
        package = short.split("/", 1)[0].removesuffix(".py")
    elif path.startswith(PROJECT):
        short = path.removeprefix(PROJECT)
        package = "project:" + short.split("/", 1)[0].removesuffix(".py")
    elif (stdlib := _STDLIB.search(path)) is not None:
        short = path[stdlib.end() :]
        package = "stdlib:" + short.split("/", 1)[0].removesuffix(".py")
    else:
        short = package = path
    return f"{match['func']} ({short})", package, f"{short}:{match['line']}"


def summarise(raw_path: Path, top: int = 20) -> dict[str, object]:
    self_fn: Counter[str] = Counter()
    total_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    samples = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        leaf, leaf_pkg, leaf_line = frames[-1]
        self_fn[leaf] += count
        self_pkg[leaf_pkg] += count
        self_line[leaf_line] += count
        for name in {name for name, _, _ in frames}:
            if name.startswith("<module>") or name.endswith(_ROOT_FILES):
                continue
            total_fn[name] += count

    def rows(counter: Counter[str]) -> list[tuple[str, int, float]]:
        return [(k, v, 100 * v / max(samples, 1)) for k, v in counter.most_common(top)]

    return {
        "samples": samples,
        "self": rows(self_fn),
        "total": rows(total_fn),
        "self_by_package": rows(self_pkg),
        "self_by_line": rows(self_line),
    }


def print_summary(summary: dict[str, object]) -> None:
    print(
        f"\npy-spy on the gateway under closed-loop load: {summary['samples']} samples "
        "(busy only: time waiting in epoll is not sampled; uvloop's C code shows up as "
        "self time of Runner.run)"
    )
    for key, title in (
        ("self_by_package", "self time by package"),
        ("self", "top functions by self time"),
        ("self_by_line", "top source lines by self time"),
        ("total", "top functions by total (inclusive) time"),
    ):
        print(f"\n  {title}:")
        rows = summary[key]
        assert isinstance(rows, list)
        for name, count, share in rows:
            print(f"    {share:5.1f}%  {count:6d}  {name[:110]}")

"""The large property-based fuzz of the ``ptft`` command line (the small one runs in CI).

Draws CASES command lines from the strategies of ``tests/clifuzz.py`` (every option of every
subcommand, read from the argparse parsers) and runs each in a long-lived worker process
with an in-process alarm of LIMIT seconds; a worker that does not answer within LIMIT + 30 s
is killed (a hang in compiled code) and replaced. Reports the counts the error contract is
judged by:

    cases, executions (files created: code ran), tracebacks, hangs, internal errors (exit 1),
    non-finite successes (inf/nan printed with exit 0), other violations, exit-code histogram,
    wall time

and writes them, with every failing command line, to benchmarks/results/fuzz_cli.json.

    python benchmarks/fuzz_cli.py                       # 1000 cases, 60 s per case, 1 worker
    python benchmarks/fuzz_cli.py --cases 200 --workers 2 --seed 1
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

WORKER = r"""
import json, sys, tempfile, warnings
sys.path[:0] = [{root!r}, {tests!r}]
warnings.simplefilter("ignore")
import clifuzz
for line in sys.stdin:
    argv = json.loads(line)
    with tempfile.TemporaryDirectory() as fresh:
        o = clifuzz.run_case(argv, {limit}, fresh)
    print(json.dumps({{"code": o.code, "seconds": o.seconds, "violations": clifuzz.violations(o),
                      "stderr": o.stderr[-300:]}}), flush=True)
"""


def draw_cases(n: int, seed: int, grid: str) -> list[list[str]]:
    """``n`` command lines from the Hypothesis strategy (deterministic for a seed)."""
    from hypothesis import HealthCheck, given, seed as hseed, settings
    from hypothesis import strategies as st

    import clifuzz

    specs = clifuzz.subcommands()
    cases: list[list[str]] = []

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data):
        cases.append(data.draw(clifuzz.command_lines(specs, grid)))

    collect()
    return cases


class Worker:
    def __init__(self, limit: float):
        self.limit = limit
        code = WORKER.format(root=str(ROOT), tests=str(ROOT / "tests"), limit=limit)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def run(self, argv) -> dict | None:
        """The case's result, or None when the worker did not answer in time (killed)."""
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.limit + 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            self.proc.wait()
            return None
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_cli.json"))
    args = ap.parse_args(argv)

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        grid = Path(tmp) / "GRID.toml"
        grid.write_text("alpha = [0.2, 0.4]\nc_pt = [1e-3, 1e-2]\n")
        cases = draw_cases(args.cases, args.seed, str(grid))
        t0 = time.perf_counter()
        counts = collections.Counter()
        codes = collections.Counter()
        failures, slowest = [], []
        workers = [Worker(args.limit) for _ in range(max(1, args.workers))]
        try:
            from concurrent.futures import ThreadPoolExecutor

            def one(i):
                w = workers[i % len(workers)]
                return i, w.run(cases[i])

            def handle(i, res):
                case = cases[i]
                if res is None:            # the worker itself stuck past the alarm: killed
                    workers[i % len(workers)] = Worker(args.limit)
                    res = {"code": None, "seconds": args.limit + 30, "violations": ["hang"], "stderr": ""}
                codes[str(res["code"])] += 1
                for v in res["violations"]:
                    counts[v] += 1
                if res["violations"]:
                    failures.append({"argv": case, "violations": res["violations"], "stderr": res["stderr"]})
                slowest.append((res["seconds"], " ".join(case)[:200]))
                done = sum(codes.values())
                if done % 50 == 0:
                    print(f"{done}/{len(cases)} cases, {dict(counts)} ({time.perf_counter() - t0:.0f} s)",
                          file=sys.stderr, flush=True)

            with ThreadPoolExecutor(len(workers)) as pool:      # worker w takes cases w, w + n, ...
                for start in range(0, len(cases), len(workers)):
                    batch = range(start, min(start + len(workers), len(cases)))
                    for i, res in pool.map(one, batch):
                        handle(i, res)
        finally:
            for w in workers:
                w.close()
        seconds = time.perf_counter() - t0
    report = {"cases": len(cases), "executions": counts["execution"], "tracebacks": counts["traceback"],
              "hangs": counts["hang"], "internal_errors": counts["internal error"],
              "non_finite_successes": counts["non-finite success"],
              "other_violations": sum(v for k, v in counts.items() if k not in
                                      ("execution", "traceback", "hang", "internal error", "non-finite success")),
              "exit_codes": dict(codes), "seconds": round(seconds, 1), "limit_s": args.limit,
              "seed": args.seed, "workers": args.workers,
              "slowest": [f"{s:.1f} s  ptft {a}" for s, a in sorted(slowest, reverse=True)[:10]],
              "failures": failures}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("failures", "slowest")}))
    for f in failures[:20]:
        print(f"  {f['violations']}: ptft {' '.join(f['argv'])[:200]}  | {f['stderr'][-150:]!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The request path beside the baselines of ``../shared/perf``, measured in alternation.

1. note create: the project with its relay and consumer running, and paused (SIGSTOP),
   beside the lean ceiling and the seed-style app, the same gunicorn worker count;
   CPU per create of each web server and its PostgreSQL backends;
2. list of one's own notes (a page of 20 of 100), beside the ceiling's list;
3. create throughput with 1, 2 and 4 workers per service, beside the ceiling at each.
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import uuid
from collections.abc import Iterator

from bench.baselines import baseline_database, baselines, compare_module
from bench.harness import (
    BenchStack,
    backend_pids,
    cpu_seconds,
    load,
    paced_posts,
    report,
    run_sections,
    section_parser,
    tree,
)

PIPELINE = ("relay-note", "consume-consumer")
NOTES = "/api/notes/"


def _note(i: int) -> dict:
    return {"title": f"seed {i}", "content": "Lorem ipsum dolor sit amet, consectetur adipiscing elit."}


def _measure(targets: dict, rounds: int, secs: int, conns: int, before=None) -> dict[str, list[tuple]]:
    """wrk on every target, in alternation; ``before(name)`` runs ahead of each."""
    wrk = compare_module().wrk
    results: dict[str, list[tuple]] = {name: [] for name in targets}
    for round_ in range(rounds):
        order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
        for name in order:
            method, url, token, cpu_of = targets[name]
            if before:
                before(name)
            pids = cpu_of() if cpu_of else []
            cpu_before = cpu_seconds(pids)
            rps, p50, p99, non2xx = wrk(method, url, token, secs, conns)
            cpu = (cpu_seconds(pids) - cpu_before) * 1000 / max(1, rps * secs)
            results[name].append((rps, p50, p99, non2xx, cpu))
    return results


def _lines(results: dict[str, list[tuple]], base: str) -> list[str]:
    base_rps = statistics.median(r[0] for r in results[base])
    lines = []
    for name, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[4] for r in runs)
        lines.append(f"{name:28s} {rps:7.0f} req/s  p50 {statistics.median(r[1] for r in runs):5.1f} ms  "
                     f"p99 {statistics.median(r[2] for r in runs):6.1f} ms  CPU {cpu:.2f} ms/req (web + its db)  "
                     f"non-2xx {sum(r[3] for r in runs)}  x{rps / base_rps:.2f} of {base}")  # fmt: skip
    return lines


@contextlib.contextmanager
def _note_stack(workers: int) -> Iterator[tuple[BenchStack, str, dict[str, str]]]:
    """note_service's web server (``workers`` gunicorn workers) with its relay and
    consumer_service's consumer running, and the baselines beside it under the same worker
    count: the stack, a token and the baselines' URLs."""
    with BenchStack(extra_env={"WEB_CONCURRENCY": str(workers)}) as stack:
        stack.start("web-note")
        for name in PIPELINE:
            stack.start(name)
        stack.wait_http("note")
        with baselines(stack, workers=workers) as base:
            yield stack, stack.token(uuid.uuid4()), base


def create_and_list(rounds: int, secs: int, conns: int, workers: int) -> None:
    with _note_stack(workers) as (stack, token, base):
        project_cpu = lambda: [*stack.pids("web-note"), *backend_pids(stack.database("note"))]  # noqa: E731
        ceiling_cpu = lambda: [*_gunicorn_pids(base["ceiling"]), *backend_pids(baseline_database(stack, "ceiling"))]  # noqa: E731
        seed_cpu = lambda: [*_gunicorn_pids(base["seed"]), *backend_pids(baseline_database(stack, "seed"))]  # noqa: E731
        targets = {
            "project (pipeline running)": ("POST", stack.url("note") + NOTES, token, project_cpu),
            "project (pipeline paused)": ("POST", stack.url("note") + NOTES, token, project_cpu),
            "ceiling (lean Django)": ("POST", base["ceiling"] + NOTES, token, ceiling_cpu),
            "seed-style (DRF + flush)": ("POST", base["seed"] + NOTES, "", seed_cpu),
        }

        def pipeline_for(name: str) -> None:
            stack.signal(PIPELINE, signal.SIGSTOP if "paused" in name else signal.SIGCONT)

        created = _measure(targets, rounds, secs, conns, before=pipeline_for)
        stack.signal(PIPELINE, signal.SIGCONT)
        report(f"note create, wrk {conns} connections, {secs} s x {rounds}, {workers} gunicorn workers each, "
               "PostgreSQL", _lines(created, "ceiling (lean Django)"))  # fmt: skip

        lister = stack.token(uuid.uuid4())
        paced_posts(stack.url("note"), NOTES, lister, rate=200, seconds=0.5, body=_note)
        paced_posts(base["ceiling"], NOTES, lister, rate=200, seconds=0.5, body=_note)
        listed = _measure({
            "project list (page of 20)": ("GET", stack.url("note") + NOTES + "?page_size=20", lister, project_cpu),
            "ceiling list (20 rows)": ("GET", base["ceiling"] + NOTES, lister, ceiling_cpu),
        }, rounds, secs, conns)  # fmt: skip
        report(f"list own notes (100 of them), wrk {conns} connections, {workers} workers",
               _lines(listed, "ceiling list (20 rows)"))  # fmt: skip


def workers_scaling(secs: int, conns: int) -> None:
    lines = []
    for workers in (1, 2, 4):
        with _note_stack(workers) as (stack, token, base):
            results = _measure({
                "project": ("POST", stack.url("note") + NOTES, token, None),
                "ceiling": ("POST", base["ceiling"] + NOTES, token, None),
            }, 2, secs, conns)  # fmt: skip
            project = statistics.median(r[0] for r in results["project"])
            ceiling = statistics.median(r[0] for r in results["ceiling"])
            lines.append(f"{workers} worker(s): project {project:6.0f} req/s, ceiling {ceiling:6.0f} req/s, "
                         f"x{project / ceiling:.2f}   [{load()}]")  # fmt: skip
    report(f"create throughput by WEB_CONCURRENCY (pipeline running), wrk {conns} connections", lines)


def _gunicorn_pids(url: str) -> list[int]:
    """The gunicorn master listening on ``url``'s port, and its workers."""
    from pathlib import Path

    port = int(url.rsplit(":", 1)[1])
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inode = fields[9]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if any(str(fd.readlink()) == f"socket:[{inode}]" for fd in (proc / "fd").iterdir()):
                    parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    return tree(parent if _is_gunicorn(parent) else int(proc.name))
    return []


def _is_gunicorn(pid: int) -> bool:
    from pathlib import Path

    with contextlib.suppress(OSError):
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


SECTIONS = {
    "create": lambda args: create_and_list(args.rounds, args.secs, args.conns, args.workers),
    "workers": lambda args: workers_scaling(args.secs, args.conns),
}


def main(argv: list[str] | None = None) -> int:
    parser = section_parser(__doc__, SECTIONS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=int, default=6)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    return run_sections(parser, SECTIONS, argv, "request-path benchmarks")


if __name__ == "__main__":
    raise SystemExit(main())

"""Isolation benchmark (docs/isolation.md): figures, not a test.

Against the local system that `scripts/run-local.sh` started (one ingress, two workers), it measures

1. aggregate `/mcp` `tools/list` latency (2026-07-28, stateless) with only healthy servers, then
   with a dead (refused), a hung (accepts, never answers) and a slow (30 s tools/list) server
   registered beside them;
2. a second user's call latency alone, then while a first user sends ten times their rate limit.

Run it with the project's Python:

    eval "$(scripts/services.sh env)"; scripts/run-local.sh
    "$(scripts/python-env.sh)" scripts/benchmark-isolation.py [--listings 200] [--calls 100]

It registers servers `iso-dead`, `iso-hung`, `iso-slow` and a limit for the user `bench-a`, and
removes them at the end. Medians and ratios are what to quote: this machine is noisy.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MCPGW = os.path.join(REPO, ".build", "debug", "mcpgw")
DEV = os.path.join(REPO, ".local", "dev")
FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "mcp", "fixture_server.py")
GROUP = "Local-Developers"


def mcpgw(*arguments: str, check: bool = True) -> str:
    result = subprocess.run([MCPGW, *arguments], capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"mcpgw {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def token(subject: str) -> str:
    return mcpgw("dev-token", "--dir", DEV, "--subject", subject, "--tenant", "local", "--object-id", f"{subject}-oid", "--groups", GROUP)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def listing(client: httpx.AsyncClient, base: str, bearer: str) -> tuple[float, dict]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {
        "Authorization": f"Bearer {bearer}", "Accept": "application/json", "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    started = time.perf_counter()
    answer = await client.post(f"{base}/mcp", json=body, headers=headers)
    took = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"tools/list answered {answer.status_code}: {answer.text[:300]}")
    return took, answer.json().get("result", {})


async def listings(client: httpx.AsyncClient, base: str, bearer: str, count: int) -> tuple[list[float], dict]:
    times, last = [], {}
    for _ in range(count):
        took, last = await listing(client, base, bearer)
        times.append(took)
    return times, last


async def call(client: httpx.AsyncClient, base: str, bearer: str) -> tuple[float, int]:
    started = time.perf_counter()
    answer = await client.post(
        f"{base}/servers/demo/tools/echo", json={"text": "isolation"}, headers={"Authorization": f"Bearer {bearer}"}
    )
    return (time.perf_counter() - started) * 1000, answer.status_code


def report(title: str, values: list[float]) -> str:
    return f"{title:<58} p50 {statistics.median(values):8.1f} ms   p99 {percentile(values, 0.99):8.1f} ms   n={len(values)}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=f"http://127.0.0.1:{os.environ.get('MCPGW_INGRESS_PORT', '38080')}")
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=int, default=60, help="the first user's limit, calls per minute")
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit('DATABASE_URL is not set: eval "$(scripts/services.sh env)" first')

    user_a, user_b = token("bench-a"), token("bench-b")
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(1024)  # accepts (the kernel does), never answers
    slow_port = free_port()
    slow = subprocess.Popen(
        [sys.executable, FIXTURE, "--transport", "streamable-http", "--port", str(slow_port), "--json-response", "--list-delay", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    broken = {
        "iso-dead": f"http://127.0.0.1:{free_port()}/mcp",
        "iso-hung": f"http://127.0.0.1:{hung.getsockname()[1]}/mcp",
        "iso-slow": f"http://127.0.0.1:{slow_port}/mcp",
    }
    lines = []
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            await listings(client, options.base, user_b, 5)
            healthy, _ = await listings(client, options.base, user_b, options.listings)
            lines.append(report("tools/list, healthy servers only", healthy))

            for server, url in broken.items():
                mcpgw("servers", "add", "--id", server, "--name", server, "--transport", "streamable_http", "--url", url)
                mcpgw("grants", "add-group", GROUP, server)
            # Wait until every worker serves them and a listing names them as degraded.
            deadline = time.monotonic() + 60
            while True:
                _, result = await listing(client, options.base, user_b)
                named = {entry["server"] for entry in result.get("_meta", {}).get("io.github.mcp-queue-gateway/degraded", [])}
                if set(broken) <= named or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            with_broken, result = await listings(client, options.base, user_b, options.listings)
            tools = len(result.get("tools", []))
            lines.append(report("tools/list, with a dead, a hung and a slow server", with_broken))
            lines.append(f"  ratio of medians {statistics.median(with_broken) / statistics.median(healthy):.2f}; "
                         f"{tools} healthy tools listed; p99 goal under 300 ms")

            mcpgw("limits", "set", "--user", "local/bench-a-oid", "--rate", str(options.rate), "--burst", "1")
            await asyncio.sleep(6)  # workers re-read limits every 5 s
            alone = [took for took, _ in [await call(client, options.base, user_b) for _ in range(options.calls)]]
            lines.append(report("second user's calls, alone", alone))

            stop = asyncio.Event()
            refused = 0

            async def flood() -> None:
                nonlocal refused
                interval = 60 / (options.rate * 10)
                while not stop.is_set():
                    _, status = await call(client, options.base, user_a)
                    refused += status == 429
                    await asyncio.sleep(interval)

            flooding = asyncio.create_task(flood())
            beside = [took for took, _ in [await call(client, options.base, user_b) for _ in range(options.calls)]]
            stop.set()
            await flooding
            lines.append(report(f"second user's calls, first user at 10x {options.rate}/min", beside))
            lines.append(f"  ratio of medians {statistics.median(beside) / statistics.median(alone):.2f} (goal within 1.10); "
                         f"the first user got {refused} answers 429")
    finally:
        mcpgw("limits", "remove", "--user", "local/bench-a-oid", check=False)
        for server in broken:
            mcpgw("servers", "remove", server, check=False)
        slow.terminate()
        hung.close()
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())

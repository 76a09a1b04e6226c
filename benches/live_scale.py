#!/usr/bin/env python3
"""Live at scale: one `stepscale run` process scaling many services, against moto (ECS) and
Redis, at a 15 s period. Reports how well each service keeps its period, the process's memory
(and what one more service costs) and its CPU per tick.

    python benches/live_scale.py --stepscale target/release/stepscale [--services 200]
        [--period 15] [--duration 120]

Needs moto on AWS_ENDPOINT_URL (default http://127.0.0.1:5000; `bash tests/services/moto.sh`),
Redis on REDIS_URL (default redis://127.0.0.1:6379) and boto3 (moto's venv has it:
/var/tmp/stepscale-cache/moto-venv/bin/python). It makes one cluster with one service per
policy file, each on its own Redis list, and keeps the state in local files (`--state-dir`):
the cost measured is StepScale's, not a storage round trip. It runs the loop twice, with one
service and with all of them, for `--duration` seconds each, then sends SIGTERM.

Per service, how well it keeps its period is how far the interval between two of its
consecutive end-of-tick log lines is from the period. Memory is the process's peak RSS (VmHWM); CPU is
user + system time divided by the ticks made.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import datetime

import boto3

MOTO = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REDIS = urllib.parse.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))


def ecs():
    return boto3.client(
        "ecs",
        endpoint_url=MOTO,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def redis_command(*args):
    """One Redis command over RESP (no client library needed)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
    with socket.create_connection((REDIS.hostname, REDIS.port or 6379), timeout=5) as s:
        s.sendall(payload.encode())
        return s.recv(1024)


def fixtures(n, folder):
    """A cluster, `n` services at 2 tasks, `n` Redis lists (100 to 2,000 items), `n` policy
    files; their paths."""
    tag = uuid.uuid4().hex[:8]
    client = ecs()
    cluster = f"scale-{tag}"
    client.create_cluster(clusterName=cluster)
    client.register_task_definition(
        family=f"task-{tag}",
        containerDefinitions=[{"name": "w", "image": "w:latest", "memory": 512}],
    )
    files = []
    for i in range(n):
        service, key = f"worker-{i}", f"scale-{tag}-{i}"
        client.create_service(
            cluster=cluster, serviceName=service, taskDefinition=f"task-{tag}", desiredCount=2
        )
        redis_command("DEL", key)
        redis_command("RPUSH", key, *(["job"] * (100 + 19 * i % 1900)))
        path = os.path.join(folder, f"{service}.toml")
        with open(path, "w") as f:
            f.write(
                f'[service]\ncluster = "{cluster}"\nname = "{service}"\n\n'
                f'[[queues]]\ntype = "redis"\nhost = "{REDIS.hostname}"\n'
                f"port = {REDIS.port or 6379}\nqueue_key = \"{key}\"\n\n"
                "[guards]\nmin_tasks = 1\nmax_tasks = 50\n\n"
                '[policy]\nkind = "target"\ntarget_backlog_per_task = 100.0\n'
            )
        files.append(path)
    return files, tag


def run(stepscale, files, period, duration, state_dir):
    """Runs the loop; returns (ticks by service, peak RSS in KB, CPU seconds)."""
    args = [stepscale, "--log-format", "json", "run", "--period-secs", str(period)]
    args += ["--state-dir", state_dir]
    for f in files:
        args += ["--policy", f]
    env = dict(os.environ, LOG_LEVEL="info", AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", AWS_ENDPOINT_URL=MOTO)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stderr=log, stdout=subprocess.DEVNULL, env=env)
    peak, cpu = 0, 0.0
    end = time.time() + duration
    while time.time() < end and proc.poll() is None:
        time.sleep(0.5)
        try:
            with open(f"/proc/{proc.pid}/status") as s:
                for line in s:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            with open(f"/proc/{proc.pid}/stat") as s:
                fields = s.read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except FileNotFoundError:
            break
    if proc.poll() is not None:
        log.seek(0)
        sys.exit(f"stepscale run ended early:\n{log.read().decode()[-2000:]}")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    log.seek(0)
    ticks = {}
    for line in log.read().decode().splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        fields = j.get("fields", {})
        if fields.get("message") not in ("Decided.", "Every metric read failed: the engine held.",
                                         "Tick failed: nothing scaled."):
            continue
        service = fields.get("service") or j.get("span", {}).get("service")
        at = datetime.fromisoformat(j["timestamp"].replace("Z", "+00:00")).timestamp()
        ticks.setdefault(service, []).append((at, fields.get("message")))
    return ticks, peak, cpu


def deviations(ticks, period):
    """Seconds each interval between a service's consecutive ticks differs from the period."""
    out = []
    for times in ticks.values():
        for (a, _), (b, _) in zip(times, times[1:]):
            out.append(b - a - period)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stepscale", required=True)
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--period", type=float, default=15.0)
    ap.add_argument("--duration", type=float, default=120.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files, _ = fixtures(a.services, folder)
        results = {}
        for n in (1, a.services):
            state = tempfile.mkdtemp(dir=folder)
            ticks, peak, cpu = run(a.stepscale, files[:n], a.period, a.duration, state)
            count = sum(len(t) for t in ticks.values())
            failed = sum(1 for t in ticks.values() for _, m in t if m != "Decided.")
            late = sorted(abs(d) for d in deviations(ticks, a.period))
            results[n] = (peak, cpu, count)
            print(f"{n} service(s), {a.period:g} s period, {a.duration:g} s: "
                  f"{len(ticks)} services ticked, {count} ticks ({failed} not decided); "
                  f"peak RSS {peak / 1024:.1f} MB; CPU {cpu:.2f} s, "
                  f"{1000 * cpu / max(count, 1):.2f} ms a tick")
            if late:
                print(f"  |interval - period| between a service's ticks: median "
                      f"{1000 * statistics.median(late):.0f} ms, "
                      f"p99 {1000 * late[int(0.99 * (len(late) - 1))]:.0f} ms, "
                      f"max {1000 * late[-1]:.0f} ms")
        (p1, _, _), (pn, _, _) = results[1], results[a.services]
        print(f"memory per service: {(pn - p1) / max(a.services - 1, 1):.0f} KB "
              f"(peak RSS with {a.services} services minus with one, over {a.services - 1})")


if __name__ == "__main__":
    main()

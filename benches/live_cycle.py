#!/usr/bin/env python3
"""One `stepscale run --once` cycle from a cold process against moto: wall time, peak RSS and
the AWS calls it makes. Optionally fast-autoscaler v0.2's handler beside it.

    python benches/live_cycle.py --stepscale target/release/stepscale [--runs 10] [--v02 DIR]

Needs moto on AWS_ENDPOINT_URL (default http://127.0.0.1:5000; `bash tests/services/moto.sh`
starts it) and boto3 (moto's venv has it: /var/tmp/stepscale-cache/moto-venv/bin/python).
Each run is a new process on the same service, its queue holding 250 messages (`--queue sqs`,
the default, or `redis`: a list on REDIS_URL, default redis://127.0.0.1:6379); the first run
finds no state, the later ones find the previous run's in S3. Timings go straight to moto; the call count goes
through a counting relay in front of it, in a separate pass, so the relay costs no time.
`--v02 DIR` runs `lambda_function.handler({}, None)` from a fast-autoscaler v0.2 checkout with
the same environment, each in a new `python` process (the same cold start a Lambda pays).
"""

import argparse
import http.client
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter

import boto3

MOTO = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REGION = "us-east-1"


def client(name):
    return boto3.client(
        name,
        endpoint_url=MOTO,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def fixtures(messages, queue):
    """A cluster with one service at 1 task, a queue (`sqs`, or a Redis list on REDIS_URL)
    holding `messages`, a state bucket: the environment that points at them."""
    tag = uuid.uuid4().hex[:8]
    ecs, sqs, s3 = client("ecs"), client("sqs"), client("s3")
    cluster, service, family = f"bench-{tag}", f"worker-{tag}", f"task-{tag}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "w", "image": "w:latest", "memory": 512}],
    )
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=family, desiredCount=1
    )
    if queue == "sqs":
        url = sqs.create_queue(QueueName=f"jobs-{tag}")["QueueUrl"]
        for i in range(0, messages, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(j), "MessageBody": "job"} for j in range(min(10, messages - i))
                ],
            )
        source = {"QUEUE_TYPE": "sqs", "SQS_QUEUE_URL": url}
    else:
        import redis  # only for --queue redis

        where = urllib.parse.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
        key = f"jobs-{tag}"
        redis.Redis(host=where.hostname, port=where.port or 6379).rpush(key, *["job"] * messages)
        source = {
            "QUEUE_TYPE": "redis",
            "REDIS_HOST": where.hostname,
            "REDIS_PORT": str(where.port or 6379),
            "REDIS_QUEUE_KEY": key,
        }
    bucket = f"state-{tag}"
    s3.create_bucket(Bucket=bucket)
    return source | {
        "ECS_CLUSTER": cluster,
        "SERVICE_NAME": service,
        "S3_CONFIG_BUCKET": bucket,
        "MIN_TASKS": "1",
        "MAX_TASKS": "20",
    }


class Relay(http.server.BaseHTTPRequestHandler):
    """Forwards every request to moto and counts it by service and operation."""

    calls = Counter()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _operation(self, body):
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.split(".")[-1]
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        action = (form.get("Action") or query.get("Action") or [None])[0]
        if action:
            return action
        return f"S3 {self.command}"  # the only REST service called

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Relay.calls[self._operation(body)] += 1
        target = urllib.parse.urlsplit(MOTO)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = target.netloc
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


def timed(cmd, env):
    """Wall seconds and peak RSS (KB) of `cmd`, from GNU time."""
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-o", out.name, "-f", "%M"] + cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr}")
        rss = int(out.read().strip().splitlines()[-1])
    return wall, rss


def base_env():
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return env


def measure(name, cmd, runs, queue, endpoint_env):
    env = base_env() | fixtures(250, queue) | endpoint_env
    results = [timed(cmd, env | {"AWS_ENDPOINT_URL": MOTO}) for _ in range(runs)]
    walls = [w * 1000 for w, _ in results]
    rss = [r / 1024 for _, r in results]
    # The call count: two more cycles through the counting relay, on fresh fixtures: the first
    # finds no state, the second finds the first's.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    relay_url = f"http://127.0.0.1:{server.server_address[1]}"
    env = base_env() | fixtures(250, queue) | endpoint_env
    counts = []
    for _ in range(2):
        Relay.calls.clear()
        timed(cmd, env | {"AWS_ENDPOINT_URL": relay_url})
        counts.append(dict(Relay.calls))
    server.shutdown()
    print(f"{name} ({queue}): {runs} cold cycles")
    print(
        f"  wall ms: median {statistics.median(walls):.1f}, min {min(walls):.1f}, max {max(walls):.1f}"
        f" (first run: {walls[0]:.1f})"
    )
    print(f"  peak RSS MB: max {max(rss):.1f}, median {statistics.median(rss):.1f}")
    for label, c in zip(("first cycle (no state yet)", "second cycle"), counts):
        print(f"  AWS calls, {label}: {sum(c.values())} ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stepscale", default="target/release/stepscale")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--queue", choices=["sqs", "redis"], default="sqs")
    p.add_argument("--v02", help="a fast-autoscaler v0.2 checkout, to time its handler too")
    p.add_argument("--python", default=sys.executable, help="the Python that runs v0.2")
    args = p.parse_args()
    if args.runs < 1:
        sys.exit("--runs must be at least 1")
    state = tempfile.mkdtemp(prefix="stepscale-cycle-")
    measure(
        "stepscale run --once",
        [os.path.abspath(args.stepscale), "run", "--once", "--state-dir", state],
        args.runs,
        args.queue,
        {},
    )
    if args.v02:
        code = "import lambda_function as f; r = f.handler({}, None); print(r)"
        measure(
            "fast-autoscaler v0.2 handler",
            [args.python, "-c", code],
            args.runs,
            args.queue,
            {"PYTHONPATH": os.path.abspath(args.v02), "LOG_LEVEL": "WARNING"},
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Lambda's cold start to its first decision: a new `stepscale-lambda` process, served by a
local Runtime API endpoint (the documented protocol: `GET .../invocation/next`, then `POST
.../{id}/response`), deciding for a Redis queue and an ECS service in moto.

    cargo build --release -p stepscale-live --features lambda,redis --bin stepscale-lambda
    python benches/lambda_cold_start.py --lambda target/release/stepscale-lambda [--runs 10]

Needs moto on AWS_ENDPOINT_URL (default http://127.0.0.1:5000), Redis on REDIS_URL (default
redis://127.0.0.1:6379) and boto3 (moto's venv has it). Each run starts a new process, as a
new execution environment does; the figure is the time from the process's start to the
response of its first invocation (the init, the configuration, DescribeServices, the Redis
read, the decision and UpdateService), and its peak RSS. State goes to /tmp as with no bucket.
"""

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
import uuid

import boto3

MOTO = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REDIS = urllib.parse.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))


def redis_command(*args):
    payload = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
    with socket.create_connection((REDIS.hostname, REDIS.port or 6379), timeout=5) as s:
        s.sendall(payload.encode())
        return s.recv(1024)


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Hands out one event, then records the response's arrival time."""

    protocol_version = "HTTP/1.1"
    given = threading.Event()
    answered = None
    answer = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if RuntimeApi.given.is_set():
            time.sleep(30)  # Lambda holds `next` open between invocations.
            return
        RuntimeApi.given.set()
        body = json.dumps({"source": "aws.events"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-0")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:stepscale",
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        text = self.rfile.read(length).decode()
        RuntimeApi.answered = time.perf_counter()
        RuntimeApi.answer = (self.path, text)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def one_run(binary, env):
    RuntimeApi.given.clear()
    RuntimeApi.answered = None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while RuntimeApi.answered is None and time.perf_counter() - start < 30:
        try:
            with open(f"/proc/{proc.pid}/status") as s:
                for line in s:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            break
        time.sleep(0.001)
    elapsed = None if RuntimeApi.answered is None else RuntimeApi.answered - start
    proc.kill()
    proc.wait()
    server.shutdown()
    if elapsed is None:
        raise SystemExit(f"no answer: {proc.stderr.read().decode()[-2000:]}")
    path, text = RuntimeApi.answer
    if not path.endswith("/response") or not json.loads(text).get("ok"):
        raise SystemExit(f"the invocation failed: {path} {text}")
    return elapsed, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lambda", dest="binary", required=True)
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    ecs = boto3.client("ecs", endpoint_url=MOTO, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    cluster, service = f"cold-{tag}", f"worker-{tag}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=f"task-{tag}", containerDefinitions=[{"name": "w", "image": "w", "memory": 512}]
    )
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=f"task-{tag}",
                       desiredCount=1)
    key = f"cold-{tag}"
    redis_command("RPUSH", key, *(["job"] * 250))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": MOTO,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "stepscale",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "QUEUE_TYPE": "redis",
        "REDIS_HOST": REDIS.hostname,
        "REDIS_PORT": str(REDIS.port or 6379),
        "REDIS_QUEUE_KEY": key,
        "ECS_CLUSTER": cluster,
        "SERVICE_NAME": service,
        "MIN_TASKS": "1",
        "MAX_TASKS": "20",
    }
    times, peaks = [], []
    for _ in range(a.runs):
        t, p = one_run(a.binary, env)
        times.append(t)
        peaks.append(p)
    redis_command("DEL", key)
    print(f"cold start to first decision: median {1000 * statistics.median(times):.0f} ms "
          f"({1000 * min(times):.0f}-{1000 * max(times):.0f} ms, {a.runs} runs); "
          f"peak RSS median {statistics.median(peaks) / 1024:.1f} MB")


if __name__ == "__main__":
    main()

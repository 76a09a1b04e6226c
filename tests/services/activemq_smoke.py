#!/usr/bin/env python3
"""Smoke check of ActiveMQ + Jolokia (run by `activemq.sh --smoke`; python stdlib only).

usage: activemq_smoke.py [JOLOKIA_URL] [STOMP_HOST] [STOMP_PORT]

Sends 5 messages over STOMP to a fresh queue, reads QueueSize, InFlightCount, ConsumerCount,
EnqueueCount, DequeueCount through Jolokia, and checks that a missing queue answers HTTP 200
with "status":404 in the JSON. Removes its queue at the end.
"""
import json
import os
import sys
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stomp_send import send  # noqa: E402

ATTRS = "QueueSize,InFlightCount,ConsumerCount,EnqueueCount,DequeueCount"
MBEAN = "org.apache.activemq:type=Broker,brokerName=localhost,destinationType=Queue,destinationName="


def read_queue(jolokia, queue):
    with urllib.request.urlopen(f"{jolokia}/read/{MBEAN}{queue}/{ATTRS}", timeout=5) as resp:
        return resp.status, json.load(resp)


def main():
    jolokia = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8161/api/jolokia"
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 61613
    queue = f"smoke.{uuid.uuid4().hex[:8]}"

    send(host, port, queue, 5)
    http, doc = read_queue(jolokia, queue)
    want = {"QueueSize": 5, "InFlightCount": 0, "ConsumerCount": 0, "EnqueueCount": 5,
            "DequeueCount": 0}
    assert http == 200 and doc["status"] == 200 and doc["value"] == want, doc

    http, doc = read_queue(jolokia, f"missing.{uuid.uuid4().hex[:8]}")
    assert http == 200 and doc["status"] == 404, doc
    assert doc["error_type"] == "javax.management.InstanceNotFoundException", doc
    broker = MBEAN.split(",destinationType")[0]
    with urllib.request.urlopen(f"{jolokia}/exec/{broker}/removeQueue(java.lang.String)/{queue}",
                                timeout=5) as resp:
        assert json.load(resp)["status"] == 200
    print(f"activemq smoke ok: 5 sent to {queue} over STOMP, Jolokia reads {want}; "
          "missing queue -> HTTP 200 with status 404")


if __name__ == "__main__":
    main()

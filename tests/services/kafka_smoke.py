#!/usr/bin/env python3
"""Smoke check of the Kafka-protocol broker with kafka-python (run by `kafka.sh --smoke`).

usage: kafka_smoke.py HOST:PORT

Creates a fresh topic (1 partition), produces 5 records, consumes them in a consumer group,
commits, and checks the end offset, the committed offset and the group's lag (0). Deletes its group and topic at the end.
"""
import sys
import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic


def main():
    brokers = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-group"
    t0 = time.monotonic()

    admin = KafkaAdminClient(bootstrap_servers=brokers, client_id="stepscale-smoke")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    assert topic in admin.list_topics(), "topic not listed after create"

    producer = KafkaProducer(bootstrap_servers=brokers, acks=1)
    for i in range(5):
        producer.send(topic, key=b"k", value=f"v{i}".encode()).get(timeout=10)
    producer.flush()
    producer.close()

    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=brokers, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10000)
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 5 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            got.extend(r.value for r in records)
    assert got == [f"v{i}".encode() for i in range(5)], f"consumed {got!r}"
    consumer.commit()
    end = consumer.end_offsets([tp])[tp]
    committed = consumer.committed(tp)
    consumer.close()
    assert end == 5 and committed == 5, f"end offset {end}, committed {committed}"

    offsets = admin.list_group_offsets(group)[group]  # kafka-python 3.x API
    assert offsets[tp].offset == 5, f"group offsets {offsets!r}"
    groups = [g["group_id"] for g in admin.list_groups()]
    admin.delete_groups([group])
    admin.delete_topics([topic])
    admin.close()
    print(f"kafka smoke ok: topic {topic}: 5 produced, 5 consumed in group {group}, "
          f"end offset {end}, committed {committed}, lag 0; group listed: {group in groups} ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()

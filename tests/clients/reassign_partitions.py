"""Partition reassignment (KIP-455) through kafka-python 3.x's admin client, for the
cluster tests: one call per run, its answer printed as JSON on the last line.

Usage:
  .venv/bin/python reassign_partitions.py HOST:PORT alter TOPIC PARTITION 3,1
  .venv/bin/python reassign_partitions.py HOST:PORT alter TOPIC PARTITION cancel
  .venv/bin/python reassign_partitions.py HOST:PORT list

alter prints {"TOPIC-PARTITION": null | error code}; list prints
{"TOPIC-PARTITION": {"replicas": [...], "adding_replicas": [...], "removing_replicas": [...]}}.
"""

import json
import sys

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

boot, what = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=boot, request_timeout_ms=10_000)
try:
    if what == "alter":
        topic, partition, target = sys.argv[3], int(sys.argv[4]), sys.argv[5]
        replicas = None if target == "cancel" else [int(r) for r in target.split(",")]
        result = admin.alter_partition_reassignments({TopicPartition(topic, partition): replicas})
        print(json.dumps({f"{tp.topic}-{tp.partition}": (None if e is None else e.errno)
                          for tp, e in result.items()}))
    elif what == "list":
        result = admin.list_partition_reassignments()
        print(json.dumps({f"{tp.topic}-{tp.partition}": r for tp, r in result.items()}))
    else:
        sys.exit(f"unknown command {what}")
finally:
    admin.close()

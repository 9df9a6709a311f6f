"""SASL checks of Aeon with confluent-kafka (librdkafka) and kafka-python.

Usage: .venv/bin/python sasl_clients.py SASL_HOST:PORT
with AEON_ADMIN_BOOTSTRAP=HOST:PORT, a PLAINTEXT listener of the same broker.

Users are made with confluent-kafka's AdminClient.alter_user_scram_credentials
(KIP-554: the client salts the password, the broker never sees it) over the PLAINTEXT
listener; then each client, with each of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over
SASL_PLAINTEXT, produces, consumes in a group with commits, and runs a transaction;
a wrong password is refused.
"""

import logging
import os
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialUpsertion)
import kafka

from _matrix import Matrix, expect, expect_eq

m = Matrix("sasl")
SASL = m.bootstrap
ADMIN = os.environ["AEON_ADMIN_BOOTSTRAP"]
admin = AdminClient({"bootstrap.servers": ADMIN})
USER, PASSWORD = m.name("user"), "s3cret-pass"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def make_users():
    upserts = [
        UserScramCredentialUpsertion(USER, ScramCredentialInfo(mech, 4096), PASSWORD.encode())
        for mech in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
    ]
    for fut in admin.alter_user_scram_credentials(upserts).values():
        fut.result(timeout=15)
    described = admin.describe_user_scram_credentials([USER])[USER].result(timeout=15)
    mechanisms = sorted(str(info.mechanism) for info in described.scram_credential_infos)
    expect_eq(len(mechanisms), 2, "credentials described")


def create_topic(what):
    name = m.name(what)
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(timeout=15)
    return name


def rd_conf(mechanism, password=PASSWORD):
    return {
        "bootstrap.servers": SASL,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": USER,
        "sasl.password": password,
    }


def kp_conf(mechanism, password=PASSWORD):
    return {
        "bootstrap_servers": SASL,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": USER,
        "sasl_plain_password": password,
        "request_timeout_ms": 10_000,
    }


def confluent_round_trip(mechanism):
    topic = create_topic(f"rd-{mechanism.lower()}")
    p = Producer({**rd_conf(mechanism), "linger.ms": 5})
    for i in range(20):
        p.produce(topic, key=f"k{i}", value=f"v{i}")
    expect_eq(p.flush(15), 0, "all delivered")
    c = Consumer({**rd_conf(mechanism), "group.id": m.name(f"g-{mechanism}"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 20 and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg.value().decode())
    c.commit(asynchronous=False)
    c.close()
    expect_eq(sorted(got), sorted(f"v{i}" for i in range(20)), "consumed in a group")
    # A transaction.
    t = Producer({**rd_conf(mechanism), "transactional.id": m.name(f"tx-{mechanism}")})
    t.init_transactions(15)
    t.begin_transaction()
    t.produce(topic, key="tx", value="committed")
    t.commit_transaction(15)


def kafka_python_round_trip(mechanism):
    topic = create_topic(f"kp-{mechanism.lower()}")
    p = kafka.KafkaProducer(**kp_conf(mechanism))
    for i in range(20):
        p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    p.flush(15)
    p.close()
    c = kafka.KafkaConsumer(topic, group_id=m.name(f"kg-{mechanism}"),
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=15_000, **kp_conf(mechanism))
    got = []
    for msg in c:
        got.append(msg.value.decode())
        if len(got) == 20:
            break
    c.commit()
    c.close()
    expect_eq(sorted(got), sorted(f"v{i}" for i in range(20)), "consumed in a group")
    t = kafka.KafkaProducer(transactional_id=m.name(f"ktx-{mechanism}"), **kp_conf(mechanism))
    t.init_transactions()
    t.begin_transaction()
    t.send(topic, key=b"tx", value=b"committed")
    t.commit_transaction()
    t.close()


def confluent_wrong_password():
    errors = []
    p = Producer({**rd_conf("SCRAM-SHA-512", "wrong"), "error_cb": errors.append})
    p.produce(m.name("never"), value="x")
    p.flush(3)
    expect(any("Authentication failed" in str(e) or "SASL" in str(e) for e in errors),
           f"an authentication error, got {errors}")


def kafka_python_wrong_password():
    """kafka-python retries a refused bootstrap until it gives up (30 s); the refusal
    itself shows in its log, which is captured here."""
    seen = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Capture(level=logging.DEBUG)
    logging.getLogger("kafka").addHandler(handler)
    logging.getLogger("kafka").setLevel(logging.DEBUG)
    try:
        kafka.KafkaProducer(**kp_conf("SCRAM-SHA-256", "wrong"), max_block_ms=3000).send(
            m.name("never"), b"x").get(timeout=5)
    except Exception:  # noqa: BLE001 - the producer cannot start; the log says why
        pass
    else:
        raise AssertionError("a wrong password was accepted")
    finally:
        logging.getLogger("kafka").removeHandler(handler)
    expect(any("Authentication failed" in line for line in seen),
           f"the broker's refusal in kafka-python's log ({len(seen)} lines)")


m.check("users made with AlterUserScramCredentials", make_users)
for mech in MECHANISMS:
    m.check(f"confluent-kafka over SASL_PLAINTEXT {mech}", lambda mech=mech: confluent_round_trip(mech), timeout=60)
    m.check(f"kafka-python over SASL_PLAINTEXT {mech}", lambda mech=mech: kafka_python_round_trip(mech), timeout=60)
m.check("confluent-kafka: a wrong password is refused", confluent_wrong_password)
m.check("kafka-python: a wrong password is refused", kafka_python_wrong_password, timeout=50)
m.finish()

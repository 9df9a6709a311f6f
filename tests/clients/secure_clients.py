"""Security checks of Aeon with confluent-kafka (librdkafka) and kafka-python.

Usage: .venv/bin/python secure_clients.py SASL_PLAINTEXT_HOST:PORT
with, from the same broker (ACLs on, Kafka's StandardAuthorizer):
  AEON_ADMIN_BOOTSTRAP  a PLAINTEXT listener whose anonymous clients are super users
  AEON_SSL              an SSL listener that requires a client certificate (mTLS)
  AEON_SASL_SSL         a SASL_SSL listener
  AEON_CA, AEON_CLIENT_CERT, AEON_CLIENT_KEY  PEM files: the CA that signed the
                        broker's and the client's certificates, and the client's
                        certificate (CN=AEON_CLIENT_CN) and key.

A user is made with confluent-kafka's AdminClient.alter_user_scram_credentials (KIP-554:
the client salts the password, the broker never sees it), and first refused; ACLs are
then granted with AdminClient.create_acls to the SCRAM user and to the certificate's
principal, and described back. Then each client, over SASL_PLAINTEXT and SASL_SSL with
each of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and over SSL with its certificate,
produces, consumes in a group with commits, and runs a transaction; Debian's kcat
(librdkafka 2.0) produces and consumes over SASL_SSL with SCRAM; a wrong password is
refused.
"""

import logging
import os
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)
import kafka

from _matrix import Matrix, expect, expect_eq

m = Matrix("secure")
SASL = m.bootstrap
SSL = os.environ["AEON_SSL"]
SASL_SSL = os.environ["AEON_SASL_SSL"]
CA, CERT, KEY = os.environ["AEON_CA"], os.environ["AEON_CLIENT_CERT"], os.environ["AEON_CLIENT_KEY"]
CERT_USER = os.environ["AEON_CLIENT_CN"]
admin = AdminClient({"bootstrap.servers": os.environ["AEON_ADMIN_BOOTSTRAP"]})
USER, PASSWORD = m.name("user"), "s3cret-pass"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# Every topic, group and transactional id this script makes starts with this.
PREFIX = "secure-"


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


def rd_conf(protocol, mechanism=None, password=PASSWORD):
    if protocol == "SSL":
        return {"bootstrap.servers": SSL, "security.protocol": "SSL",
                "ssl.ca.location": CA, "ssl.certificate.location": CERT,
                "ssl.key.location": KEY}
    conf = {
        "bootstrap.servers": SASL if protocol == "SASL_PLAINTEXT" else SASL_SSL,
        "security.protocol": protocol,
        "sasl.mechanisms": mechanism,
        "sasl.username": USER,
        "sasl.password": password,
    }
    if protocol == "SASL_SSL":
        conf["ssl.ca.location"] = CA
    return conf


def kp_conf(protocol, mechanism=None, password=PASSWORD):
    if protocol == "SSL":
        return {"bootstrap_servers": SSL, "security_protocol": "SSL", "ssl_cafile": CA,
                "ssl_certfile": CERT, "ssl_keyfile": KEY, "request_timeout_ms": 10_000}
    conf = {
        "bootstrap_servers": SASL if protocol == "SASL_PLAINTEXT" else SASL_SSL,
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": USER,
        "sasl_plain_password": password,
        "request_timeout_ms": 10_000,
    }
    if protocol == "SASL_SSL":
        conf["ssl_cafile"] = CA
    return conf


def refused_before_acls():
    """Authenticated but not authorized: the topic is refused, nothing is written."""
    topic = create_topic("before-acls")
    errors = []
    p = Producer({**rd_conf("SASL_PLAINTEXT", "SCRAM-SHA-512"), "error_cb": errors.append,
                  "message.timeout.ms": 5000})
    failed = []
    p.produce(topic, value="x", on_delivery=lambda err, _msg: failed.append(err))
    p.flush(10)
    expect(len(failed) == 1 and failed[0] is not None, f"a failed delivery, got {failed}")
    expect_eq(failed[0].code(), KafkaError.TOPIC_AUTHORIZATION_FAILED, "the refusal")


def grant():
    bindings = []
    for principal in (f"User:{USER}", f"User:{CERT_USER}"):
        for rtype in (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID):
            bindings.append(AclBinding(rtype, PREFIX, ResourcePatternType.PREFIXED, principal,
                                       "*", AclOperation.ALL, AclPermissionType.ALLOW))
        bindings.append(AclBinding(ResourceType.BROKER, "kafka-cluster",
                                   ResourcePatternType.LITERAL, principal, "*",
                                   AclOperation.IDEMPOTENT_WRITE, AclPermissionType.ALLOW))
    for fut in admin.create_acls(bindings).values():
        fut.result(timeout=15)
    described = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
        AclPermissionType.ANY)).result(timeout=15)
    expect_eq(len(described), len(bindings), "ACLs described")


def confluent_round_trip(protocol, mechanism=None):
    label = f"rd-{protocol}-{mechanism or 'cert'}".lower()
    topic = create_topic(label)
    p = Producer({**rd_conf(protocol, mechanism), "linger.ms": 5})
    for i in range(20):
        p.produce(topic, key=f"k{i}", value=f"v{i}")
    expect_eq(p.flush(15), 0, "all delivered")
    c = Consumer({**rd_conf(protocol, mechanism), "group.id": m.name(f"g-{label}"),
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
    t = Producer({**rd_conf(protocol, mechanism), "transactional.id": m.name(f"tx-{label}")})
    t.init_transactions(15)
    t.begin_transaction()
    t.produce(topic, key="tx", value="committed")
    t.commit_transaction(15)


def kafka_python_round_trip(protocol, mechanism=None):
    label = f"kp-{protocol}-{mechanism or 'cert'}".lower()
    topic = create_topic(label)
    p = kafka.KafkaProducer(**kp_conf(protocol, mechanism))
    for i in range(20):
        p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    p.flush(15)
    p.close()
    c = kafka.KafkaConsumer(topic, group_id=m.name(f"g-{label}"),
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=15_000, **kp_conf(protocol, mechanism))
    got = []
    for msg in c:
        got.append(msg.value.decode())
        if len(got) == 20:
            break
    c.commit()
    c.close()
    expect_eq(sorted(got), sorted(f"v{i}" for i in range(20)), "consumed in a group")
    t = kafka.KafkaProducer(transactional_id=m.name(f"tx-{label}"), **kp_conf(protocol, mechanism))
    t.init_transactions()
    t.begin_transaction()
    t.send(topic, key=b"tx", value=b"committed")
    t.commit_transaction()
    t.close()


def kcat_round_trip(mechanism):
    """Debian's kcat (librdkafka 2.0: SaslHandshake needs v0 advertised, and SCRAM sends
    the client nonce twice, as librdkafka did before 2.6.1)."""
    topic = create_topic(f"kcat-{mechanism.lower()}")
    conf = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={CA}",
            "-X", f"sasl.mechanism={mechanism}", "-X", f"sasl.username={USER}",
            "-X", f"sasl.password={PASSWORD}"]
    lines = "".join(f"k{i}:v{i}\n" for i in range(10))
    subprocess.run(["kcat", "-b", SASL_SSL, *conf, "-t", topic, "-P", "-K:"],
                   input=lines.encode(), check=True, timeout=30, capture_output=True)
    out = subprocess.run(["kcat", "-b", SASL_SSL, *conf, "-t", topic, "-C", "-o", "beginning",
                          "-e", "-q", "-f", "%s\n"],
                         check=True, timeout=30, capture_output=True).stdout.decode()
    expect_eq(sorted(out.split()), sorted(f"v{i}" for i in range(10)), "consumed")


def confluent_wrong_password():
    errors = []
    p = Producer({**rd_conf("SASL_SSL", "SCRAM-SHA-512", "wrong"), "error_cb": errors.append})
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
        kafka.KafkaProducer(**kp_conf("SASL_PLAINTEXT", "SCRAM-SHA-256", "wrong"),
                            max_block_ms=3000).send(m.name("never"), b"x").get(timeout=5)
    except Exception:  # noqa: BLE001 - the producer cannot start; the log says why
        pass
    else:
        raise AssertionError("a wrong password was accepted")
    finally:
        logging.getLogger("kafka").removeHandler(handler)
    expect(any("Authentication failed" in line for line in seen),
           f"the broker's refusal in kafka-python's log ({len(seen)} lines)")


m.check("users made with AlterUserScramCredentials", make_users)
m.check("an authenticated user without ACLs is refused", refused_before_acls)
m.check("ACLs granted with CreateAcls and described", grant)
for proto in ("SASL_PLAINTEXT", "SASL_SSL"):
    for mech in MECHANISMS:
        m.check(f"confluent-kafka over {proto} {mech}",
                lambda proto=proto, mech=mech: confluent_round_trip(proto, mech), timeout=60)
        m.check(f"kafka-python over {proto} {mech}",
                lambda proto=proto, mech=mech: kafka_python_round_trip(proto, mech), timeout=60)
m.check("confluent-kafka over SSL with a client certificate",
        lambda: confluent_round_trip("SSL"), timeout=60)
m.check("kafka-python over SSL with a client certificate",
        lambda: kafka_python_round_trip("SSL"), timeout=60)
for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
    m.check(f"kcat (librdkafka 2.0) over SASL_SSL {mech}",
            lambda mech=mech: kcat_round_trip(mech), timeout=60)
m.check("confluent-kafka: a wrong password is refused", confluent_wrong_password)
m.check("kafka-python: a wrong password is refused", kafka_python_wrong_password, timeout=50)
m.finish()

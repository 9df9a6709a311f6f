'use strict'
// Client-compatibility check: kafkajs 2.2.4 against an Aeon broker.
//
//   node tests/clients/kafkajs_client.js <bootstrap host:port>
//
// Prints `ok <check>` or `FAIL <check>: <reason>` per check, then `N passed, M failed`;
// exits 0 iff nothing failed. Each check makes its own topics and groups (names unique to
// this script and run), has its own timeout, and a failing check does not stop the others.
// kafkajs' own log (errors only) goes to stderr, as evidence for a FAIL.
//
// Codecs: none, gzip (built in) and snappy (kafkajs-snappy, pure JS). There is no pure-JS
// LZ4 or ZSTD codec package for kafkajs (kafkajs-lz4 and @kafkajs/zstd build native modules
// with node-gyp, @2l/kafkajs-lz4 ships a prebuilt native one), so those two are left to the
// librdkafka-based clients (kcat_client.sh).

const {
  Kafka,
  logLevel,
  CompressionTypes,
  CompressionCodecs,
  ConfigResourceTypes,
  AssignerProtocol,
} = require('kafkajs')
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')

// Optional check names after the bootstrap address run only those (for debugging).
const [bootstrap, ...only] = process.argv.slice(2)
if (!bootstrap) {
  console.error('usage: node kafkajs_client.js <bootstrap host:port> [check...]')
  process.exit(2)
}

const run = Date.now().toString(36)
const name = what => `kafkajs-${what}-${run}`

// kafkajs logs at debug level only that the broker closed a connection, and its consumers
// just reconnect and retry: count those closes so that a FAIL can say so. Only errors (or
// KAFKAJS_LOG_LEVEL, 1-5) are printed, to stderr.
const printLevel = Number(process.env.KAFKAJS_LOG_LEVEL || logLevel.ERROR)
let closedByBroker = 0
const kafka = new Kafka({
  clientId: 'aeon-kafkajs-matrix',
  brokers: [bootstrap],
  connectionTimeout: 3000,
  requestTimeout: 10000,
  // Few, short retries: a broker defect should fail a check, not stall the run.
  retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  logLevel: logLevel.DEBUG,
  logCreator: () => ({ namespace, level, log }) => {
    if (log.message === 'Kafka server has closed connection') closedByBroker++
    if (level <= printLevel) {
      process.stderr.write(`[kafkajs ${namespace}] ${log.message} ${JSON.stringify(log)}\n`)
    }
  },
})

// ---- helpers ----------------------------------------------------------------------------

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function expect(cond, message) {
  if (!cond) throw new Error(message)
}

function expectEqual(actual, expected, what) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`)
}

function describeError(e) {
  let text = `${e.name || 'Error'}: ${e.message}`
  // Per-partition errors (e.g. KafkaJSDeleteTopicRecordsError) carry the broker's answers.
  for (const p of e.partitions || []) {
    if (p.error) text += ` [partition ${p.partition}: ${p.error.message}]`
  }
  // kafkajs wraps the cause (e.g. after the retries ran out); the cause is the evidence.
  for (let cause = e.originalError || e.cause; cause; cause = cause.originalError || cause.cause) {
    text += ` <- ${cause.name || 'Error'}: ${cause.message}`
  }
  return text.replace(/\s+/g, ' ')
}

let passed = 0
let failed = 0

// Runs one check: `use(client)` registers a client to disconnect afterwards, pass or fail.
async function check(checkName, timeoutMs, body) {
  if (only.length && !only.includes(checkName)) return
  const clients = []
  const use = client => (clients.push(client), client)
  const closedBefore = closedByBroker
  try {
    await withTimeout(body(use), timeoutMs, 'check')
    console.log(`ok ${checkName}`)
    passed++
  } catch (e) {
    const closed = closedByBroker - closedBefore
    const note = closed ? ` (the broker closed ${closed} connection(s) during this check)` : ''
    console.log(`FAIL ${checkName}: ${describeError(e)}${note}`)
    failed++
  } finally {
    const closing = Promise.allSettled(clients.reverse().map(c => c.disconnect()))
    await withTimeout(closing, 5000, 'disconnect').catch(() => {})
  }
}

async function connectAdmin(use) {
  const admin = use(kafka.admin())
  await admin.connect()
  return admin
}

async function connectProducer(use, options = {}) {
  const producer = use(kafka.producer(options))
  await producer.connect()
  return producer
}

async function createTopic(admin, topic, numPartitions) {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
  })
  expect(created, `createTopics(${topic}) answered false (already exists?)`)
}

// Starts a consumer of `groupId` on `topic` (manual commits only) and resolves with every
// message it saw once `done(messages)` holds. A consumer crash rejects at once, with the
// error, instead of waiting for the check's timeout.
async function consume(use, { groupId, topic, done, readUncommitted = false }) {
  const consumer = use(
    kafka.consumer({
      groupId,
      readUncommitted,
      sessionTimeout: 10000,
      rebalanceTimeout: 20000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 300,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    })
  )
  const messages = []
  const finished = new Promise((resolve, reject) => {
    consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error))
    consumer
      .connect()
      .then(() => consumer.subscribe({ topics: [topic], fromBeginning: true }))
      .then(() =>
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            messages.push({ partition, ...message })
            if (done(messages)) resolve(messages)
          },
        })
      )
      .catch(reject)
  })
  return { consumer, messages: await finished }
}

const text = buffer => (buffer === null ? null : buffer.toString())
const headerText = headers =>
  Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(text) : text(v)])
  )

// ---- the checks ---------------------------------------------------------------------------

async function main() {
  await check('metadata', 15000, async use => {
    const admin = await connectAdmin(use)
    // A producer's metadata request auto-creates a topic (auto.create.topics.enable);
    // kafkajs' admin never asks for that.
    const topic = name('auto-created')
    const producer = await connectProducer(use)
    await producer.send({ topic, messages: [{ value: 'hello' }] })
    const cluster = await admin.describeCluster()
    const [, port] = bootstrap.split(':')
    expectEqual(
      cluster.brokers.map(b => [b.nodeId, b.port]),
      [[1, Number(port)]],
      'describeCluster brokers [nodeId, port]'
    )
    expectEqual(cluster.controller, 1, 'describeCluster controller')
    expect((await admin.listTopics()).includes(topic), 'listTopics does not list the auto-created topic')
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    expectEqual(
      topics.map(t => [t.name, t.partitions.map(p => [p.partitionId, p.leader])]),
      [[topic, [[0, 1]]]],
      'fetchTopicMetadata [topic, [partition, leader]]'
    )
  })

  await check('create-topic', 15000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('created')
    await createTopic(admin, topic, 3)
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = topics[0].partitions.map(p => [p.partitionId, p.leader]).sort()
    expectEqual(partitions, [[0, 1], [1, 1], [2, 1]], 'partitions [id, leader]')
    expect((await admin.listTopics()).includes(topic), 'listTopics does not list the new topic')
    // Kafka answers TOPIC_ALREADY_EXISTS to a second create, which kafkajs turns into false.
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })
    expectEqual(again, false, 'second createTopics of the same topic')
  })

  await check('produce-consume-codecs', 25000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('codecs')
    await createTopic(admin, topic, 3)
    const producer = await connectProducer(use)
    const codecs = [
      ['none', CompressionTypes.None],
      ['gzip', CompressionTypes.GZIP],
      ['snappy', CompressionTypes.Snappy],
    ]
    const expected = [[], [], []] // per partition, in produce order
    for (const [codec, compression] of codecs) {
      const messages = []
      for (let partition = 0; partition < 3; partition++) {
        for (let i = 0; i < 4; i++) {
          const m = {
            partition,
            key: `${codec}-key-${partition}-${i}`,
            // Long and repetitive, so that the codecs really compress something.
            value: `${codec}-value-${partition}-${i}-${'abcdefgh'.repeat(20)}`,
            // A repeated header key comes back as an array in kafkajs.
            headers: { codec, seq: String(i), twice: ['first', 'second'] },
          }
          messages.push(m)
          expected[partition].push({ key: m.key, value: m.value, headers: m.headers })
        }
      }
      // One send: one batch per partition, compressed with this codec.
      await producer.send({ topic, compression, acks: -1, messages })
    }
    const total = expected.flat().length
    const { messages } = await consume(use, {
      groupId: name('codecs-group'),
      topic,
      done: got => got.length >= total,
    })
    await sleep(500) // anything beyond `total` (duplicates) would arrive now
    expectEqual(messages.length, total, 'messages consumed')
    for (let partition = 0; partition < 3; partition++) {
      const got = messages.filter(m => m.partition === partition)
      expectEqual(
        got.map(m => Number(m.offset)),
        expected[partition].map((_, i) => i),
        `offsets of partition ${partition}`
      )
      expectEqual(
        got.map(m => ({ key: text(m.key), value: text(m.value), headers: headerText(m.headers) })),
        expected[partition],
        `records of partition ${partition}`
      )
    }
  })

  await check('consume-committed-offset', 25000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('commit')
    const groupId = name('commit-group')
    await createTopic(admin, topic, 1)
    const producer = await connectProducer(use)
    const values = Array.from({ length: 10 }, (_, i) => `commit-${i}`)
    await producer.send({ topic, messages: values.map(value => ({ value })) })
    // First member: reads everything from the beginning, then commits K = 7 and leaves.
    const first = await consume(use, { groupId, topic, done: got => got.length >= 10 })
    expectEqual(first.messages.map(m => Number(m.offset)), [...values.keys()], 'offsets from beginning')
    expectEqual(first.messages.map(m => text(m.value)), values, 'values from beginning')
    await first.consumer.commitOffsets([{ topic, partition: 0, offset: '7' }])
    await first.consumer.disconnect()
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
    expectEqual(committed.partitions.map(p => p.offset), ['7'], 'fetchOffsets after commit')
    // A new member of the group must resume exactly at the committed offset.
    const second = await consume(use, { groupId, topic, done: got => got.length >= 3 })
    await sleep(300)
    expectEqual(second.messages.map(m => Number(m.offset)), [7, 8, 9], 'offsets after rejoin')
  })

  await check('offsets-by-timestamp', 15000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('timestamps')
    await createTopic(admin, topic, 1)
    const producer = await connectProducer(use)
    const t0 = Date.now() - 60000
    // Three older records first, so that the batch under test does not start at offset 0.
    await producer.send({
      topic,
      messages: [0, 1, 2].map(i => ({ value: `old-${i}`, timestamp: String(t0 - 30000 + i) })),
    })
    // Ten records in ONE send call, hence one record batch: the lookups below must find
    // records inside the batch, not just the batch.
    const [result] = await producer.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({
        partition: 0,
        value: `ts-${i}`,
        timestamp: String(t0 + i * 1000),
      })),
    })
    const base = Number(result.baseOffset)
    expectEqual(base, 3, 'baseOffset of the 10-record batch')
    const lookup = async ts => Number((await admin.fetchTopicOffsetsByTimestamp(topic, ts))[0].offset)
    // The first record whose timestamp is >= the target; past the last one kafkajs gives
    // the high watermark (the broker answers -1).
    const cases = [
      [t0 + 5500, base + 6],
      [t0 + 3000, base + 3],
      [t0, base],
      [t0 + 9001, base + 10],
    ]
    for (const [ts, want] of cases) {
      expectEqual(await lookup(ts), want, `offset for timestamp t0+${ts - t0}`)
    }
  })

  await check('earliest-latest-offsets', 15000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('low-high')
    await createTopic(admin, topic, 2)
    const producer = await connectProducer(use)
    await producer.send({
      topic,
      messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `v${i}` })),
    })
    const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
    expectEqual(
      offsets.map(o => [o.partition, o.low, o.high]),
      [[0, '0', '5'], [1, '0', '0']],
      '[partition, low, high]'
    )
  })

  await check('group-split-partitions', 30000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('split')
    const groupId = name('split-group')
    await createTopic(admin, topic, 4)
    // The latest assignment each member was given (GROUP_JOIN fires after every SyncGroup).
    const assigned = [null, null]
    const members = [0, 1].map(i => {
      const consumer = use(
        kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300, maxWaitTimeInMs: 300 })
      )
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        assigned[i] = (payload.memberAssignment[topic] || []).slice().sort()
      })
      return consumer
    })
    const crashed = new Promise((_, reject) =>
      members.forEach(c => c.on(c.events.CRASH, ({ payload }) => reject(payload.error)))
    )
    const start = async consumer => {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic] })
      await consumer.run({ eachMessage: async () => {} })
    }
    // Polls `cond` for up to 12 s, then fails showing the assignments seen last.
    const waitFor = async (cond, what) => {
      for (const deadline = Date.now() + 12000; !cond(); await sleep(100)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; last assignments ${JSON.stringify(assigned)}`)
        }
      }
    }
    const split = async () => {
      await start(members[0])
      await waitFor(() => assigned[0], 'the first member to join')
      await start(members[1])
      // Both hold a share (each non-empty, 4 in all), which must be disjoint and cover 0-3.
      await waitFor(
        () => assigned.every(a => a && a.length) && assigned[0].length + assigned[1].length === 4,
        'the rebalance that splits the partitions'
      )
      const all = [...assigned[0], ...assigned[1]].sort()
      expectEqual(all, [0, 1, 2, 3], `partitions of both members ${JSON.stringify(assigned)}`)
    }
    await Promise.race([split(), crashed])
  })

  await check('describe-alter-configs', 15000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('configs')
    await createTopic(admin, topic, 1)
    const describe = async configNames => {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames }],
      })
      expectEqual(resources.map(r => [r.resourceName, r.errorCode]), [[topic, 0]], 'describeConfigs resource')
      return Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e]))
    }
    const before = await describe(undefined) // all of the topic's configs
    for (const key of ['retention.ms', 'cleanup.policy', 'segment.bytes', 'max.message.bytes']) {
      expect(before[key], `describeConfigs lacks ${key}`)
    }
    expectEqual(before['cleanup.policy'].configValue, 'delete', 'cleanup.policy')
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [{ name: 'retention.ms', value: '3600000' }],
        },
      ],
    })
    const after = await describe(['retention.ms'])
    expectEqual(Object.keys(after), ['retention.ms'], 'describeConfigs of named keys')
    expectEqual(
      [after['retention.ms'].configValue, after['retention.ms'].isDefault],
      ['3600000', false],
      'retention.ms after alterConfigs [value, isDefault]'
    )
  })

  await check('delete-records', 15000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('delete-records')
    await createTopic(admin, topic, 1)
    const producer = await connectProducer(use)
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `d${i}` })) })
    // deleteTopicRecords looks the leader up in the admin's cached metadata only.
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
    const [offsets] = await admin.fetchTopicOffsets(topic)
    expectEqual([offsets.low, offsets.high], ['4', '10'], '[low, high] after deleting up to 4')
  })

  await check('transactions', 30000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('txn')
    const offsetsGroup = name('txn-offsets-group')
    await createTopic(admin, topic, 1)
    const producer = await connectProducer(use, {
      transactionalId: name('txn-id'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    const inTransaction = async (values, finish, offset) => {
      const txn = await producer.transaction()
      await txn.send({ topic, messages: values.map(value => ({ value })) })
      if (offset !== undefined) {
        await txn.sendOffsets({
          consumerGroupId: offsetsGroup,
          topics: [{ topic, partitions: [{ partition: 0, offset }] }],
        })
      }
      await (finish === 'commit' ? txn.commit() : txn.abort())
    }
    await inTransaction(['c0', 'c1', 'c2'], 'commit')
    await inTransaction(['a0', 'a1', 'a2'], 'abort')
    await inTransaction(['c3'], 'commit', '2') // also commits offset 2 for offsetsGroup
    const until = value => got => got.some(m => text(m.value) === value)
    // c3 is the last record written: everything before it has arrived when it does.
    const committed = await consume(use, { groupId: name('txn-rc'), topic, done: until('c3') })
    expectEqual(committed.messages.map(m => text(m.value)), ['c0', 'c1', 'c2', 'c3'], 'read_committed values')
    // The aborted records must be in the log (a read_uncommitted reader sees them), so the
    // read_committed result above really came from skipping them.
    const uncommitted = await consume(use, {
      groupId: name('txn-ru'),
      topic,
      readUncommitted: true,
      done: until('c3'),
    })
    expectEqual(
      uncommitted.messages.map(m => text(m.value)),
      ['c0', 'c1', 'c2', 'a0', 'a1', 'a2', 'c3'],
      'read_uncommitted values'
    )
    const [sent] = await admin.fetchOffsets({ groupId: offsetsGroup, topics: [topic] })
    expectEqual(sent.partitions.map(p => p.offset), ['2'], 'offset committed by sendOffsets')
  })

  await check('list-describe-groups', 25000, async use => {
    const admin = await connectAdmin(use)
    const topic = name('groups')
    const groupId = name('groups-group')
    await createTopic(admin, topic, 1)
    const consumer = use(kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 300 }))
    const joined = new Promise((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, resolve)
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error))
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic] })
    await consumer.run({ eachMessage: async () => {} })
    await joined
    const { groups } = await admin.listGroups()
    expectEqual(
      groups.filter(g => g.groupId === groupId).map(g => g.protocolType),
      ['consumer'],
      'listGroups entry of the group'
    )
    const described = (await admin.describeGroups([groupId])).groups
    expectEqual(
      described.map(g => [g.groupId, g.errorCode, g.state, g.protocolType, g.members.length]),
      [[groupId, 0, 'Stable', 'consumer', 1]],
      'describeGroups [groupId, errorCode, state, protocolType, members]'
    )
    // The member's assignment travels through the broker as opaque bytes: it must decode.
    const assignment = AssignerProtocol.MemberAssignment.decode(described[0].members[0].memberAssignment)
    expectEqual(assignment && assignment.assignment, { [topic]: [0] }, 'decoded member assignment')
  })
}

main()
  .catch(e => {
    console.log(`FAIL script: ${describeError(e)}`)
    failed++
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`)
    // Exit explicitly: a client stuck in a retry loop must not keep the process alive.
    process.exit(failed === 0 && passed > 0 ? 0 : 1)
  })

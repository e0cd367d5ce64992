// The Kafka clients the broker tests run against, behind one shape: kafkajs (a devDependency) and
// @confluentinc/kafka-javascript's KafkaJS API (librdkafka inside). The latter is not a dependency: its
// install builds librdkafka from source and needs Debian's -dev packages (.ci/run installs them and it);
// it is resolved from the repository, or from the directory in SLUICE_CONFLUENT_KAFKA_DIR, and its tests
// are skipped with the reason printed where it is missing.
import { createRequire } from 'node:module'
import path from 'node:path'
import { Kafka as KafkaJs, logLevel } from 'kafkajs'
import type { BatchConsumer, StateTopicClients, TransactionalProducer } from '../../lib/kafka/index'
import { repoRoot } from '../helpers'

export interface ConsumerTiming {
  groupId: string
  maxWaitTimeInMs?: number
  heartbeatInterval?: number
  sessionTimeout?: number
  rebalanceTimeout?: number
}

/** What the tests need of a client's consumer and producer (both clients' KafkaJS-style API). */
export interface TestConsumer extends BatchConsumer {
  connect(): Promise<void>
  disconnect(): Promise<void>
  subscribe(options: { topic: string }): Promise<unknown>
}
export interface TestProducer extends TransactionalProducer {
  connect(): Promise<void>
  disconnect(): Promise<void>
  send(record: { topic: string; messages: { partition?: number; key?: string | Buffer | null; value: string | Buffer | null }[] }): Promise<{ baseOffset?: string }[]>
}
export interface TestAdmin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  fetchTopicOffsets(topic: string): Promise<{ partition: number; high: string }[]>
}

export interface KafkaClientProfile {
  name: string
  /** Why this client's tests are skipped here, or undefined. */
  skipReason?: string
  /** A consumer reading its topics from the beginning, offsets committed by the adapter only. */
  consumer(brokers: string[], timing: ConsumerTiming): TestConsumer
  /** transactionalId: a transactional, idempotent producer with one request in flight. */
  producer(brokers: string[], options?: { transactionalId?: string }): TestProducer
  admin(brokers: string[]): TestAdmin
  /** A consumer for KafkaStateStore (reads from the beginning, read_committed). */
  stateConsumer(brokers: string[], groupId: string): StateTopicClients['consumer'] & { connect(): Promise<void>; disconnect(): Promise<void> }
}

function kafkajsProfile(): KafkaClientProfile {
  const client = (brokers: string[]) => new KafkaJs({ clientId: 'sluice-test', brokers, logLevel: logLevel.NOTHING })
  // kafkajs takes fromBeginning in subscribe(): add it to every subscription.
  const fromBeginning = <T extends { subscribe(options: { topic: string; fromBeginning?: boolean }): Promise<unknown> }>(consumer: T): T => {
    const subscribe = consumer.subscribe.bind(consumer)
    consumer.subscribe = (options) => subscribe({ ...options, fromBeginning: true })
    return consumer
  }
  return {
    name: 'kafkajs',
    consumer: (brokers, timing) => fromBeginning(client(brokers).consumer(timing)) as unknown as TestConsumer,
    producer: (brokers, options = {}) =>
      client(brokers).producer(options.transactionalId ? { transactionalId: options.transactionalId, idempotent: true, maxInFlightRequests: 1 } : {}) as unknown as TestProducer,
    admin: (brokers) => client(brokers).admin() as unknown as TestAdmin,
    stateConsumer: (brokers, groupId) => fromBeginning(client(brokers).consumer({ groupId, maxWaitTimeInMs: 50 })) as unknown as ReturnType<KafkaClientProfile['stateConsumer']>,
  }
}

/** The @confluentinc/kafka-javascript module, or why it is not available. */
export function loadConfluentKafka(): { module?: { KafkaJS: Record<string, any> }; reason?: string } {
  const from = process.env.SLUICE_CONFLUENT_KAFKA_DIR ? path.resolve(process.env.SLUICE_CONFLUENT_KAFKA_DIR) : repoRoot
  try {
    return { module: createRequire(path.join(from, 'package.json'))('@confluentinc/kafka-javascript') }
  } catch (error) {
    return {
      reason: `@confluentinc/kafka-javascript not installed (resolved from ${from}: ${(error as Error).message.split('\n')[0]}); its Kafka tests skipped. ` +
        'Install it as .ci/run does (CKJS_LINKING=dynamic npm_config_nodedir=/usr npm install --no-save @confluentinc/kafka-javascript, with zlib1g-dev libssl-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev liblz4-dev) or point SLUICE_CONFLUENT_KAFKA_DIR at a directory where it is installed',
    }
  }
}

function confluentProfile(): KafkaClientProfile {
  const { module, reason } = loadConfluentKafka()
  if (!module) return { name: '@confluentinc/kafka-javascript', skipReason: reason } as KafkaClientProfile
  const { Kafka, logLevel: levels } = module.KafkaJS
  const client = (brokers: string[]) => new Kafka({ kafkaJS: { clientId: 'sluice-test', brokers, logLevel: levels.NOTHING } })
  return {
    name: '@confluentinc/kafka-javascript',
    // It takes fromBeginning and autoCommit in the consumer's config, not in subscribe() and run().
    consumer: (brokers, timing) => client(brokers).consumer({ kafkaJS: { ...timing, fromBeginning: true, autoCommit: false } }),
    producer: (brokers, options = {}) =>
      client(brokers).producer({ kafkaJS: options.transactionalId ? { transactionalId: options.transactionalId, idempotent: true, maxInFlightRequests: 1 } : {} }),
    // Its admin's fetchTopicOffsets times out against the mock cluster (measured: "Local: Timed out", also for
    // a topic that exists), so the state store's end offsets come from a kafkajs admin here.
    admin: (brokers) => kafkajsProfile().admin(brokers),
    stateConsumer: (brokers, groupId) => client(brokers).consumer({ kafkaJS: { groupId, maxWaitTimeInMs: 50, fromBeginning: true } }),
  }
}

/** Both clients; the ones that cannot run here carry a skipReason. */
export function kafkaClients(): KafkaClientProfile[] {
  return [kafkajsProfile(), confluentProfile()]
}

// KafkaConsumerAdapter: a partition-aware driver between a KafkaJS-style consumer (`run({ eachBatch })`,
// `commitOffsets`) and per-partition processors. Each partition is one WatermarkTracker input and has its
// own processor advanced by its own watermark, so results do not depend on which consumer owns which
// partition; state moves between consumers through a StateStore keyed by topic-partition-offset.
//
// Offsets: a batch's results and dead letters are produced (awaited) before its partition is
// checkpointed; a checkpoint stores the snapshot at the next offset and only then commits that offset.
// A consumer that dies leaves the committed offset at its last checkpoint, whose snapshot exists; the
// next owner restores it and replays from there (results after the last checkpoint may be emitted twice,
// with identical content and key: output is at-least-once, state is exactly-once).
// With `delivery: 'exactly-once'` the results, dead letters, checkpoint records and consumed offsets of
// all partitions ride in one producer transaction that commits once per checkpoint interval: see
// commitTransaction() and docs/kafka.md#exactly-once-output.
// A processor that throws is rolled back (last checkpoint + replay of what came since) and its batch
// retried with backoff, then dead-lettered: see rollBack() and docs/kafka.md#processor-errors.
import { SluiceError, type SluiceErrorCode } from '../runtime/errors'
import { expectFinite, expectInteger } from '../runtime/validate'
import { WatermarkTracker } from '../windows/watermark_tracker'
import type { PackedKeys } from '../keys/key_column'
import { ColumnBuilder, type RecordDecoder } from './decoders'
import { decodePartitionSnapshot, encodePartitionSnapshot } from './partition_snapshot'
import type { EventColumns, PartitionProcessor } from './processor'
import { isLibrdkafkaClient } from './client'
import type { StateStore, StoredSnapshot } from './state_store'

export interface KafkaMessage {
  offset: string
  key?: Buffer | null
  value: Buffer | null
  headers?: Record<string, unknown>
}

export interface EachBatchPayload {
  /** highWatermark: the partition's log end offset when fetched (KafkaJS gives it; @confluentinc/kafka-javascript gives '-1001' when unknown), for the consumer lag. */
  batch: { topic: string; partition: number; messages: KafkaMessage[]; highWatermark?: string }
  heartbeat(): Promise<void>
  /** Marks messages up to this offset consumed (the client's fetch position; not a commit). */
  resolveOffset?(offset: string): void
  isStale?(): boolean
  isRunning?(): boolean
}

/**
 * What the adapter needs of a consumer: KafkaJS's and @confluentinc/kafka-javascript's KafkaJS API.
 * With the latter, configure `autoCommit: false` (and `fromBeginning`) in the consumer's `kafkaJS` options:
 * its `run()` refuses `autoCommit`, and it reports no group events.
 */
export interface BatchConsumer {
  run(options: { eachBatch: (payload: EachBatchPayload) => Promise<void>; autoCommit?: boolean; eachBatchAutoResolve?: boolean }): Promise<void>
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<unknown>
  /** Exactly-once: after a failed transaction, consumption goes back to the last committed checkpoint. */
  seek?(position: { topic: string; partition: number; offset: string }): unknown
  on?(event: string, listener: (event: { payload: { memberAssignment?: Record<string, number[]> } }) => void): unknown
  events?: { GROUP_JOIN?: string }
  /** The current assignment (@confluentinc/kafka-javascript, which has no group events): read before each batch. */
  assignment?(): { topic: string; partition: number }[]
}

/** The offsets a transaction commits for the consumer group (KafkaJS and @confluentinc/kafka-javascript `sendOffsets`). */
export interface TransactionOffsets {
  /** KafkaJS names the group. */
  consumerGroupId?: string
  /** @confluentinc/kafka-javascript takes the consumer (its group metadata fences zombies, KIP-447). */
  consumer?: BatchConsumer
  topics: { topic: string; partitions: { partition: number; offset: string }[] }[]
}

/** An open producer transaction: what `producer.transaction()` resolves to in both clients. */
export interface ProducerTransaction extends ResultProducer {
  sendOffsets(offsets: TransactionOffsets): Promise<unknown>
  commit(): Promise<unknown>
  abort(): Promise<unknown>
}

/** A producer configured with a `transactionalId` (and idempotence, one request in flight). */
export interface TransactionalProducer extends ResultProducer {
  transaction(): Promise<ProducerTransaction>
}

/** at-least-once: results are produced, then the offset is committed (a crash can emit results again). exactly-once: both in one Kafka transaction. */
export type Delivery = 'at-least-once' | 'exactly-once'

export interface ProducedMessage {
  key?: string | Buffer | null
  value: string | Buffer | null
  headers?: Record<string, string | Buffer>
}

export interface ResultProducer {
  send(record: { topic: string; messages: ProducedMessage[] }): Promise<unknown>
}

export type KafkaErrorKind = 'decode' | 'timestamp' | 'key' | 'snapshot' | 'commit' | 'processor' | 'transaction'

/** A problem tied to one place in the input: reported through onError; the consumer keeps going. */
export class SluiceKafkaError extends SluiceError {
  readonly kind: KafkaErrorKind
  readonly topic: string
  readonly partition: number
  readonly offset: number
  constructor(kind: KafkaErrorKind, message: string, code: SluiceErrorCode, topic: string, partition: number, offset: number) {
    super(`${topic}[${partition}]@${offset}: ${message}`, code)
    this.name = 'SluiceKafkaError'
    this.kind = kind
    this.topic = topic
    this.partition = partition
    this.offset = offset
  }
}

export interface ResultContext {
  topic: string
  partition: number
  /** The partition's own watermark when the result fired. */
  watermark: number
}

export interface BatchInfo {
  topic: string
  partition: number
  /** The decoded events of the batch (views, valid during the callback). */
  events: EventColumns
  results: number
  deadLetters: number
}

export interface KafkaConsumerAdapterOptions<R> {
  consumer: BatchConsumer
  /** Sends results and dead letters; with `delivery: 'exactly-once'`, a TransactionalProducer. */
  producer: ResultProducer | TransactionalProducer
  /**
   * 'exactly-once': results, dead letters, checkpoint records and consumed offsets commit in one producer
   * transaction per checkpoint interval (needs a transactional producer, a broker with transactions, and
   * consumers of the output with isolation level read_committed). Default 'at-least-once'.
   */
  delivery?: Delivery
  /** Exactly-once with KafkaJS: the consumer's group id, for `sendOffsets({ consumerGroupId })`. Not needed with @confluentinc/kafka-javascript. */
  groupId?: string
  decoder: RecordDecoder
  /** Builds the processor of one partition. */
  processor: (topic: string, partition: number) => PartitionProcessor<R>
  stateStore: StateStore
  outputTopic: string
  /** Undecodable records go here with their topic/partition/offset in headers. Without it they are only reported. */
  deadLetterTopic?: string
  /** Events with key ≥ keyCount are dead-lettered (the processor's keyCount). Default 2^32. */
  keyCount?: number
  /** Bounded out-of-orderness per partition: a partition's watermark is its max event time − bound − 1. Default 0. */
  bound?: number
  /** Processing time after which a silent partition is idle: it stops holding back the combined watermark and its own windows follow it. Default Infinity. */
  idleTimeout?: number
  /** Milliseconds between checkpoints of a partition (snapshot, then commit); 0 checkpoints after every batch. Exactly-once: between transaction commits. Default 0. */
  checkpointInterval?: number
  /** Highest partition number + 1 this adapter may see (tracker inputs). Default 1024. */
  maxPartitions?: number
  /**
   * Incremental checkpoints, for processors that take deltas (snapshotDelta / applyDelta: WindowProcessor
   * without sketch aggregates): every fullEvery-th checkpoint of a partition stores its whole state, the ones
   * between only the keys changed since the checkpoint before (a record that names the one it builds on). A
   * restore reads the chain back to its full record and applies the deltas in order; pruning keeps every
   * record a restore of the last committed checkpoint needs. Works over any StateStore. Default 1: every
   * checkpoint full.
   */
  fullEvery?: number
  /** Output message of one result. Default: key "<topic>/<partition>[/<key>/<start>/<end>]", JSON value. */
  encodeResult?: (result: R, context: ResultContext) => ProducedMessage
  /** Times a batch is retried after its processor threw (not a bad record) before its messages are dead-lettered and the partition moves on. Default 3. */
  processorRetries?: number
  /** Milliseconds before the first retry of a failed batch; doubles with each retry (50, 100, 200 ms by default). Default 50. */
  retryBackoff?: number
  onError?: (error: SluiceKafkaError) => void
  /** Called after a batch's results were produced (exactly-once: handed to the open transaction, whose commit awaits their delivery). */
  onBatch?: (info: BatchInfo) => void
  clock?: () => number
  /** Wall clock in the unit of event time, for the watermark lag in metrics(). Default Date.now (event time in epoch ms). */
  wallClock?: () => number
}

export interface KafkaAdapterMetrics {
  batches: number
  events: number
  results: number
  deadLetters: number
  checkpoints: number
  restores: number
  /** Messages reprocessed after a restore from an older checkpoint (hand-off or retry). */
  replayedMessages: number
  /** Batches retried after their processor threw. */
  processorRetries: number
  /** Batches whose processor still threw after the retries: their messages were dead-lettered (also counted in deadLetters). */
  processorFailures: number
  /** Bytes the state store wrote for checkpoints, over the adapter's life (its stats().storedBytes; the snapshot bytes for a store without stats()). */
  checkpointBytes: number
  /** Bytes of the snapshots taken for checkpoints (before an IncrementalStateStore leaves out what it holds already). */
  snapshotBytes: number
  /** Milliseconds spent in checkpoints (snapshot, store, commit), over the adapter's life. */
  checkpointMs: number
  /** Batch latency (decode to checkpoint, ms) over the last BATCH_LATENCY_WINDOW batches of any partition; NaN before the first. */
  batchLatencyP50: number
  batchLatencyP99: number
  /** The combined watermark of the partitions held here, and wallClock() minus it. */
  watermark: number
  watermarkLag: number
  /** Sum of the held partitions' consumer lags; null when the client gives no high watermark. */
  consumerLag: number | null
  partitions: KafkaPartitionMetrics[]
}

/** Metrics of one partition held by this adapter (since it was loaded here; late comes from the processor's own life-long count). */
export interface KafkaPartitionMetrics {
  topic: string
  partition: number
  nextOffset: number
  /** Offset of the last committed checkpoint; -1 before the first. */
  committedOffset: number
  /** The high watermark of the last batch minus nextOffset; null when the client does not give it. */
  consumerLag: number | null
  watermark: number
  watermarkLag: number
  batches: number
  events: number
  /** Windows fired (rows produced) for this partition. */
  results: number
  deadLetters: number
  /** Late events, as the processor counts them (its `late`); null if the processor does not count. */
  late: number | null
  checkpoints: number
  /** Bytes the store wrote for the last checkpoint / all checkpoints (as the adapter's checkpointBytes). */
  lastCheckpointBytes: number
  lastCheckpointMs: number
  checkpointBytes: number
  /** Bytes of the last snapshot / all snapshots taken for checkpoints. */
  lastSnapshotBytes: number
  snapshotBytes: number
  checkpointMs: number
  batchLatencyP50: number
  batchLatencyP99: number
}

/** librdkafka's rebalance_cb codes (RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, __REVOKE_PARTITIONS). */
const LIBRDKAFKA_ASSIGN_PARTITIONS = -175
const LIBRDKAFKA_REVOKE_PARTITIONS = -174

/** How many recent batch latencies the percentiles look at (per partition and per adapter). */
export const BATCH_LATENCY_WINDOW = 1024

/** A bounded window of recent samples with nearest-rank percentiles. */
class RecentSamples {
  private readonly samples = new Float64Array(BATCH_LATENCY_WINDOW)
  private count = 0
  add(value: number): void {
    this.samples[this.count % BATCH_LATENCY_WINDOW] = value
    this.count++
  }
  percentile(p: number): number {
    const n = Math.min(this.count, BATCH_LATENCY_WINDOW)
    if (n === 0) return NaN
    const sorted = this.samples.slice(0, n).sort()
    return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!
  }
}

interface PartitionCounters {
  batches: number
  events: number
  results: number
  deadLetters: number
  checkpoints: number
  lastCheckpointBytes: number
  lastCheckpointMs: number
  checkpointBytes: number
  lastSnapshotBytes: number
  snapshotBytes: number
  checkpointMs: number
  highWatermark: number | null
  latency: RecentSamples
}

/** What was applied to a partition's processor since its state was last saved: replayed to roll a failed batch back. */
type ReplayStep = { messages: KafkaMessage[] } | { idleWatermark: number }

interface PartitionState<R> {
  topic: string
  partition: number
  input: number
  processor: PartitionProcessor<R>
  /** Next offset to consume; a batch starting elsewhere means the partition moved: reload it. */
  nextOffset: number
  maxTimestamp: number
  /** The last watermark given to the processor by feed(). */
  advancedWatermark: number
  checkpointedOffset: number
  /** Where consumption resumes if this partition's state is dropped: the offset it was loaded at, then each committed checkpoint's. */
  resumeOffset: number
  lastCheckpointAt: number
  dirty: boolean
  /** The processor state at the last checkpoint or restore (null: it started empty; then the deltas after it), and what was applied since. */
  saved: { processorBytes: Uint8Array | null; deltas: Uint8Array[]; maxTimestamp: number; advancedWatermark: number }
  /** The chain of records the processor's state stands on: its full record's offset, its last record's, and how many (undefined: the next checkpoint is full). */
  chain: { base: number; offset: number; length: number } | undefined
  /** The full record of the last committed checkpoint's chain: prune() keeps from there. */
  committedBase: number
  replay: ReplayStep[]
  lastIdleWatermark: number
  counters: PartitionCounters
}

export class KafkaConsumerAdapter<R> {
  readonly bound: number
  readonly idleTimeout: number
  readonly checkpointInterval: number
  readonly keyCount: number
  readonly processorRetries: number
  readonly retryBackoff: number
  readonly delivery: Delivery
  readonly fullEvery: number
  private readonly options: KafkaConsumerAdapterOptions<R>
  private readonly clock: () => number
  private readonly maxPartitions: number
  private readonly partitions = new Map<string, PartitionState<R>>()
  private readonly inputs = new Map<string, number>()
  private tracker: WatermarkTracker
  private readonly columns: ColumnBuilder
  /** Row where each decoded message of the current batch ends, and its offset. */
  private readonly messageEnds: number[] = []
  private readonly decodedOffsets: number[] = []
  private queue: Promise<void> = Promise.resolve()
  private readonly counters = { batches: 0, events: 0, results: 0, deadLetters: 0, checkpoints: 0, restores: 0, replayedMessages: 0, processorRetries: 0, processorFailures: 0, checkpointBytes: 0, snapshotBytes: 0, checkpointMs: 0 }
  private readonly latency = new RecentSamples()
  private readonly wallClock: () => number
  private closed = false
  /** "topic/partition" of the partitions the group gave this consumer, once the client told (assignmentKnown): KafkaJS's GROUP_JOIN, librdkafka's rebalance callback or assignment(). */
  private assigned: string[] = []
  private assignmentKnown = false
  /** @confluentinc/kafka-javascript: rebalances come from its rebalance callback (see listenForRebalances); without it, assignment() is read before each batch. */
  private rebalanceEvents = false
  private rebalanceSource: unknown
  private started = false
  private timer: ReturnType<typeof setInterval> | undefined
  /** @confluentinc/kafka-javascript (librdkafka) rather than KafkaJS: see isLibrdkafkaClient(). */
  private readonly librdkafka: boolean
  /** Exactly-once: the transaction open since transactionOpenedAt (clock()), holding everything since the last commit. */
  private transaction: ProducerTransaction | undefined
  private transactionOpenedAt = 0
  /**
   * Exactly-once: the sends into the open transaction, not awaited by their batch (the next batch is processed
   * while the client lingers and delivers) but before the commit; the first failure, which aborts it.
   */
  private transactionSends: { pending: Promise<void>[]; failure?: unknown } = { pending: [] }

  constructor(options: KafkaConsumerAdapterOptions<R>) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    const need = (value: unknown, name: string, method: string) => {
      if (typeof value !== 'object' || value === null || typeof (value as Record<string, unknown>)[method] !== 'function') {
        throw new SluiceError(`${name} must have a ${method}() method`, 'ERR_INVALID_TYPE')
      }
    }
    need(options.consumer, 'consumer', 'run')
    need(options.consumer, 'consumer', 'commitOffsets')
    need(options.producer, 'producer', 'send')
    need(options.decoder, 'decoder', 'decode')
    need(options.stateStore, 'stateStore', 'put')
    if (typeof options.processor !== 'function') throw new SluiceError('processor must be a function (topic, partition) => PartitionProcessor', 'ERR_INVALID_TYPE')
    if (typeof options.outputTopic !== 'string' || options.outputTopic === '') throw new SluiceError('outputTopic must be a non-empty string', 'ERR_INVALID_TYPE')
    if (options.deadLetterTopic !== undefined && (typeof options.deadLetterTopic !== 'string' || options.deadLetterTopic === '')) {
      throw new SluiceError('deadLetterTopic must be a non-empty string', 'ERR_INVALID_TYPE')
    }
    this.options = options
    this.bound = expectFinite(options.bound ?? 0, 'bound')
    if (this.bound < 0) throw new SluiceError(`bound must be >= 0, got ${this.bound}`, 'ERR_OUT_OF_RANGE')
    this.idleTimeout = options.idleTimeout ?? Infinity
    if (typeof this.idleTimeout !== 'number' || !(this.idleTimeout > 0)) throw new SluiceError('idleTimeout must be a number > 0', 'ERR_INVALID_ARGUMENT')
    this.checkpointInterval = expectFinite(options.checkpointInterval ?? 0, 'checkpointInterval')
    if (this.checkpointInterval < 0) throw new SluiceError('checkpointInterval must be >= 0', 'ERR_OUT_OF_RANGE')
    this.keyCount = expectInteger(options.keyCount ?? 2 ** 32, 'keyCount', 1, 2 ** 32)
    this.processorRetries = expectInteger(options.processorRetries ?? 3, 'processorRetries', 0, 100)
    this.retryBackoff = expectFinite(options.retryBackoff ?? 50, 'retryBackoff')
    if (this.retryBackoff < 0) throw new SluiceError('retryBackoff must be >= 0', 'ERR_OUT_OF_RANGE')
    this.maxPartitions = expectInteger(options.maxPartitions ?? 1024, 'maxPartitions', 1, 1 << 20)
    this.fullEvery = expectInteger(options.fullEvery ?? 1, 'fullEvery', 1, 2 ** 31)
    this.librdkafka = isLibrdkafkaClient(options.consumer)
    this.delivery = options.delivery ?? 'at-least-once'
    if (this.delivery !== 'at-least-once' && this.delivery !== 'exactly-once') throw new SluiceError(`delivery must be 'at-least-once' or 'exactly-once', got ${String(this.delivery)}`, 'ERR_INVALID_ARGUMENT')
    if (this.delivery === 'exactly-once') {
      need(options.producer, 'producer (exactly-once: a producer with a transactionalId)', 'transaction')
      need(options.consumer, 'consumer (exactly-once)', 'seek')
      if (!this.librdkafka && (typeof options.groupId !== 'string' || options.groupId === '')) {
        throw new SluiceError("exactly-once with a KafkaJS consumer needs groupId (for sendOffsets({ consumerGroupId }))", 'ERR_INVALID_ARGUMENT')
      }
      // An idle partition fires windows without its offset moving, so its next checkpoint is a second one at
      // an offset already committed. A restart must restore whichever of the two committed; a store outside the
      // transaction (a file) cannot tell, and the transaction's offsets are the same for both (and
      // @confluentinc/kafka-javascript's sendOffsets drops offset metadata). A store whose records commit with
      // the transaction can: the committed record at that key is the one read back.
      if (this.idleTimeout !== Infinity && options.stateStore.transactional !== true) {
        throw new SluiceError('exactly-once with idleTimeout needs a state store that writes through the transaction (KafkaStateStore): an idle partition checkpoints again at an offset it already committed, and a store outside the transaction cannot tell which of the two checkpoints committed', 'ERR_NOT_SUPPORTED')
      }
    }
    this.clock = options.clock ?? (() => performance.now())
    this.wallClock = options.wallClock ?? Date.now
    this.columns = new ColumnBuilder(options.decoder.channels, 1024, options.decoder.keys ?? 'dense')
    this.tracker = this.newTracker()
  }

  /** Starts consuming (offsets are committed by the adapter). Resolves when the consumer's run() does; call again after reconnecting a crashed consumer. */
  async run(): Promise<void> {
    const { consumer } = this.options
    // @confluentinc/kafka-javascript takes autoCommit in the consumer's config (its run() refuses it) and
    // has no group events (its `events` getter throws).
    const runOptions = { ...(this.librdkafka ? {} : { autoCommit: false }), eachBatchAutoResolve: false, eachBatch: (payload: EachBatchPayload) => this.enqueue(() => this.handleBatch(payload)) }
    // A reconnected @confluentinc/kafka-javascript consumer has a new underlying client to listen to.
    if (this.librdkafka) this.rebalanceEvents = this.listenForRebalances()
    // run() may be called again after the caller restarted a crashed consumer: listen and tick once.
    if (this.started) return consumer.run(runOptions)
    this.started = true
    const joinEvent = this.librdkafka ? undefined : consumer.events?.GROUP_JOIN
    if (joinEvent && typeof consumer.on === 'function') {
      consumer.on(joinEvent, ({ payload }) => {
        if (!payload.memberAssignment) return
        this.assignmentChanged(Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}/${p}`)))
      })
    }
    if (this.checkpointInterval > 0) {
      // Quiet partitions still get checkpointed (and committed), not only when their next batch comes.
      this.timer = setInterval(() => void this.enqueue(() => this.checkpointDue(this.clock())).catch(() => undefined), Math.min(this.checkpointInterval, 2 ** 31 - 1))
      this.timer.unref()
    }
    await consumer.run(runOptions)
  }

  /** The combined watermark of the partitions held here (idle ones excluded). */
  get watermark(): number {
    return this.tracker.currentWatermark(this.clock())
  }

  /** The watermark of one held partition, or undefined. */
  partitionWatermark(topic: string, partition: number): number | undefined {
    const state = this.partitions.get(`${topic}/${partition}`)
    return state ? state.maxTimestamp - this.bound - 1 : undefined
  }

  /** Partitions that currently have state here. */
  heldPartitions(): { topic: string; partition: number; nextOffset: number }[] {
    return [...this.partitions.values()].map(({ topic, partition, nextOffset }) => ({ topic, partition, nextOffset }))
  }

  /** Plain numbers: the adapter's counters since it was built, and one entry per held partition. */
  metrics(): KafkaAdapterMetrics {
    const wall = this.wallClock()
    const partitions: KafkaPartitionMetrics[] = [...this.partitions.values()].map((state) => {
      const c = state.counters
      const watermark = state.maxTimestamp - this.bound - 1
      const late = (state.processor as { late?: unknown }).late
      return {
        topic: state.topic,
        partition: state.partition,
        nextOffset: state.nextOffset,
        committedOffset: state.checkpointedOffset,
        consumerLag: c.highWatermark === null ? null : Math.max(0, c.highWatermark - state.nextOffset),
        watermark,
        watermarkLag: wall - watermark,
        batches: c.batches,
        events: c.events,
        results: c.results,
        deadLetters: c.deadLetters,
        late: typeof late === 'number' ? late : null,
        checkpoints: c.checkpoints,
        lastCheckpointBytes: c.lastCheckpointBytes,
        lastCheckpointMs: c.lastCheckpointMs,
        checkpointBytes: c.checkpointBytes,
        lastSnapshotBytes: c.lastSnapshotBytes,
        snapshotBytes: c.snapshotBytes,
        checkpointMs: c.checkpointMs,
        batchLatencyP50: c.latency.percentile(50),
        batchLatencyP99: c.latency.percentile(99),
      }
    })
    const lags = partitions.map((p) => p.consumerLag).filter((lag): lag is number => lag !== null)
    const watermark = this.partitions.size > 0 ? this.watermark : -Infinity
    return {
      ...this.counters,
      batchLatencyP50: this.latency.percentile(50),
      batchLatencyP99: this.latency.percentile(99),
      watermark,
      watermarkLag: wall - watermark,
      consumerLag: lags.length > 0 ? lags.reduce((a, b) => a + b, 0) : null,
      partitions,
    }
  }

  /** Checkpoints every held partition that changed since its last checkpoint (e.g. before a planned stop). */
  checkpointAll(): Promise<void> {
    return this.enqueue(async () => {
      if (this.delivery === 'exactly-once') {
        if (this.transaction) await this.commitTransaction()
        return
      }
      for (const state of this.partitions.values()) if (state.dirty) await this.checkpoint(state)
    })
  }

  /** Releases the processors (the consumer and producer stay the caller's). */
  close(): void {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    for (const state of this.partitions.values()) state.processor.close()
    this.partitions.clear()
    this.tracker.close()
  }

  // One batch at a time, even if the client calls eachBatch concurrently: state and columns are shared.
  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work)
    this.queue = next.catch(() => undefined)
    return next
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    if (this.closed) throw new SluiceError('KafkaConsumerAdapter is closed', 'ERR_INVALID_STATE')
    const { batch } = payload
    if (batch.messages.length === 0 || payload.isStale?.()) return
    const { topic, partition, messages } = batch
    const first = Number(messages[0]!.offset)
    if (this.librdkafka && !this.rebalanceEvents) await this.pollAssignment()
    let state = this.partitions.get(`${topic}/${partition}`)
    if (!state || state.nextOffset !== first) state = await this.load(topic, partition, first)

    // A processor that throws (not a bad record) is rolled back to the batch's start and retried with
    // backoff; after the retries the batch's messages are dead-lettered and the partition moves on.
    const now = this.clock()
    const started = performance.now()
    const deadLetters = this.decode(state, messages, true)
    let events = this.columns.view()
    const out: ProducedMessage[] = []
    const refused: number[] = []  // messages left out for their keys (maxKeys), by index among the decoded
    let failed = false
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0) {
          // Inside the try: a processor that still fails while replaying counts as a failed attempt.
          this.rollBack(state)
          // The replay went through the shared columns: decode this batch again (its bad records were reported already).
          this.decode(state, messages, false)
          events = this.columns.view()
        }
        refused.length = 0
        this.feed(state, events, out, refused)
        break
      } catch (error) {
        out.length = 0
        if (attempt >= this.processorRetries) {
          // Back to the state before the batch, then skip it. Should the replay itself throw, the batch
          // fails as a whole (nothing produced or committed) and the client redelivers it.
          this.rollBack(state)
          failed = true
          const problem = new SluiceKafkaError('processor', `processor failed ${attempt + 1} times, batch dead-lettered: ${(error as Error).message}`, 'ERR_INVALID_STATE', topic, partition, first)
          this.report(problem)
          // Records that did not decode are dead-lettered already, with their own error.
          const already = new Set(deadLetters.map((letter) => letter.headers!['sluice-offset']))
          for (const message of messages) if (!already.has(message.offset)) deadLetters.push(this.deadLetter(message, problem, Number(message.offset)))
          this.counters.processorFailures++
          break
        }
        this.counters.processorRetries++
        await new Promise((resolve) => setTimeout(resolve, this.retryBackoff * 2 ** attempt))
        await payload.heartbeat()
      }
    }
    if (failed) {
      this.columns.clear()
      events = this.columns.view()
    } else if (refused.length > 0) {
      this.refuseMessages(state, messages, refused, deadLetters)
      events = this.columns.view()
    }
    if (!failed) {
      state.replay.push({ messages })
      state.counters.results += out.length
    }
    if (events.timestamps.length > 0) this.tracker.observe(state.input, events.timestamps, now)
    if (this.idleTimeout !== Infinity) this.advanceIdle(state, now, out)
    state.nextOffset = Number(messages[messages.length - 1]!.offset) + 1
    payload.resolveOffset?.(messages[messages.length - 1]!.offset)
    state.dirty = true

    const records: { topic: string; messages: ProducedMessage[] }[] = []
    if (deadLetters.length > 0 && this.options.deadLetterTopic) records.push({ topic: this.options.deadLetterTopic, messages: deadLetters })
    if (out.length > 0) records.push({ topic: this.options.outputTopic, messages: out })
    if (this.delivery === 'exactly-once') {
      // Every batch rides in the open transaction (its offsets commit with it, output or not). Its sends are
      // awaited before the commit, not here: nothing of them is visible before it, and a failed one aborts it.
      const transaction = await this.openTransaction(topic, partition, first)
      const sends = this.transactionSends
      for (const record of records) {
        sends.pending.push(transaction.send(record).then(() => undefined, (error: unknown) => void (sends.failure ??= error)))
      }
    } else {
      for (const record of records) await this.options.producer.send(record)
    }
    this.counters.batches++
    this.counters.events += events.timestamps.length
    this.counters.results += out.length
    this.counters.deadLetters += deadLetters.length
    const pc = state.counters
    pc.batches++
    pc.events += events.timestamps.length
    pc.deadLetters += deadLetters.length
    if (batch.highWatermark !== undefined && Number(batch.highWatermark) >= 0) pc.highWatermark = Number(batch.highWatermark)
    this.options.onBatch?.({ topic, partition, events, results: out.length, deadLetters: deadLetters.length })

    await this.checkpointDue(now)
    const latency = performance.now() - started
    pc.latency.add(latency)
    this.latency.add(latency)
    await payload.heartbeat()
  }

  // Decodes a batch into the shared columns, leaving out any message that fails or yields a bad timestamp
  // or key; returns their dead letters (reported only when `report`: a replay decodes messages again).
  private decode(state: PartitionState<R>, messages: KafkaMessage[], report: boolean): ProducedMessage[] {
    const { topic, partition } = state
    const columns = this.columns
    columns.clear()
    this.messageEnds.length = 0
    this.decodedOffsets.length = 0
    const deadLetters: ProducedMessage[] = []
    for (const message of messages) {
      const before = columns.length
      let problem: SluiceKafkaError | undefined
      const offset = Number(message.offset)
      try {
        this.options.decoder.decode(message.value, columns, message.key)
      } catch (error) {
        problem = new SluiceKafkaError('decode', (error as Error).message, 'ERR_MALFORMED_DATA', topic, partition, offset)
      }
      for (let i = before; i < columns.length && !problem; i++) {
        if (!Number.isFinite(columns.timestamps[i]!)) {
          problem = new SluiceKafkaError('timestamp', `event ${i - before} has timestamp ${columns.timestamps[i]} (must be finite)`, 'ERR_INVALID_ARGUMENT', topic, partition, offset)
        } else if (columns.keyKind === 'dense' && columns.keys[i]! >= this.keyCount) {
          problem = new SluiceKafkaError('key', `event ${i - before} has key ${columns.keys[i]} (keyCount ${this.keyCount})`, 'ERR_OUT_OF_RANGE', topic, partition, offset)
        }
      }

      if (problem) {
        columns.length = before
        if (report) {
          this.report(problem)
          deadLetters.push(this.deadLetter(message, problem, offset))
        }
      } else {
        this.messageEnds.push(columns.length)
        this.decodedOffsets.push(offset)
      }
    }
    return deadLetters
  }

  // The messages feedAdmitting() left out: reported and dead-lettered (kind 'key'), their events dropped
  // from the columns (they are not counted, nor observed by the tracker).
  private refuseMessages(state: PartitionState<R>, messages: KafkaMessage[], refused: number[], deadLetters: ProducedMessage[]): void {
    const decoded = this.decodedOffsets
    for (let j = refused.length - 1; j >= 0; j--) {
      const m = refused[j]!
      const from = m === 0 ? 0 : this.messageEnds[m - 1]!, to = this.messageEnds[m]!
      this.columns.drop(from, to)
      const offset = decoded[m]!
      const problem = new SluiceKafkaError('key', `message brings keys beyond the processor's maxKeys (${to - from} events)`, 'ERR_OUT_OF_RANGE', state.topic, state.partition, offset)
      this.report(problem)
      const message = messages.find((msg) => Number(msg.offset) === offset)!
      deadLetters.push(this.deadLetter(message, problem, offset))
    }
    deadLetters.sort((a, b) => Number(a.headers!['sluice-offset']) - Number(b.headers!['sluice-offset']))
  }

  // How many distinct keys of `keys` the processor does not hold (byte keys compared as latin1 strings:
  // one character per byte).
  private static newKeyCount(processor: PartitionProcessor<unknown>, keys: string[] | PackedKeys): number {
    const held = processor.held!(keys)
    const fresh = new Set<string>()
    for (let i = 0; i < held.length; i++) {
      if (held[i]) continue
      fresh.add(Array.isArray(keys) ? keys[i]! : Buffer.from(keys.bytes.buffer, keys.bytes.byteOffset + keys.offsets[i]!, keys.offsets[i + 1]! - keys.offsets[i]!).toString('latin1'))
    }
    return fresh.size
  }

  // feed() for a processor with a maxKeys limit on interned keys: message by message, each after the
  // watermark it saw (so keys that keyTtl frees make room first), a message whose new keys do not fit is
  // left out (its index goes to `refused`) instead of a push that would refuse the whole batch. Exact per
  // message, so what is refused does not depend on how the client cut the partition into batches; a
  // refused message's timestamps do not move the watermark (as if it had never come).
  private feedAdmitting(state: PartitionState<R>, events: EventColumns, out: ProducedMessage[], refused: number[]): void {
    const { timestamps } = events
    const channels = this.columns.channels
    let max = state.maxTimestamp
    let advanced = state.advancedWatermark
    let from = 0
    for (let m = 0; m < this.messageEnds.length; m++) {
      const to = this.messageEnds[m]!
      advanced = this.advanceIfAhead(state, max - this.bound - 1, advanced, out)
      if (to > from) {
        const keys = this.columns.keysOf(from, to) as string[] | PackedKeys
        if (KafkaConsumerAdapter.newKeyCount(state.processor, keys) > state.processor.keyRoom!()) {
          refused.push(m)
        } else {
          state.processor.push({ timestamps: timestamps.subarray(from, to), keys, values: events.values.subarray(from * channels, to * channels) })
          for (let i = from; i < to; i++) if (timestamps[i]! > max) max = timestamps[i]!
        }
      }
      from = to
    }
    state.maxTimestamp = max
    state.advancedWatermark = this.advanceIfAhead(state, max - this.bound - 1, advanced, out)
  }

  // Puts a partition's processor back where it was before the current batch: a new processor restored
  // from the state saved at the last checkpoint (or restore), then the batches and idle advances applied
  // since, replayed with their results dropped (they were produced already; the processor is deterministic).
  // With checkpointInterval 0 there is nothing to replay. The replay log holds message references only.
  private rollBack(state: PartitionState<R>): void {
    state.processor.close()
    state.processor = this.options.processor(state.topic, state.partition)
    const { saved } = state
    if (saved.processorBytes) state.processor.restore(saved.processorBytes)
    for (const delta of saved.deltas) state.processor.applyDelta!(delta)
    state.maxTimestamp = saved.maxTimestamp
    state.advancedWatermark = saved.advancedWatermark
    const dropped: ProducedMessage[] = []
    for (const step of state.replay) {
      if ('idleWatermark' in step) {
        state.processor.advanceWatermark(step.idleWatermark)
      } else {
        this.decode(state, step.messages, false)
        this.feed(state, this.columns.view(), dropped)
        dropped.length = 0
      }
    }
  }

  private async checkpointDue(now: number): Promise<void> {
    if (this.closed) return
    if (this.delivery === 'exactly-once') {
      if (!this.transaction || (this.checkpointInterval > 0 && now - this.transactionOpenedAt < this.checkpointInterval)) return
      // The timer commits between batches too: a rebalance since the last batch must abort, not commit.
      if (this.librdkafka && !this.rebalanceEvents) await this.pollAssignment()
      if (this.transaction) await this.commitTransaction()
      return
    }
    for (const held of this.partitions.values()) {
      if (held.dirty && (this.checkpointInterval === 0 || now - held.lastCheckpointAt >= this.checkpointInterval)) await this.checkpoint(held)
    }
  }

  // Advances the partition's processor to `watermark` when that is past `advanced`, emitting what fires;
  // returns the watermark now reached.
  private advanceIfAhead(state: PartitionState<R>, watermark: number, advanced: number, out: ProducedMessage[]): number {
    if (watermark <= advanced) return advanced
    this.emit(state, state.processor.advanceWatermark(watermark), out)
    return watermark
  }

  // The watermark moves after every message (max event time so far − bound − 1), so results do not depend
  // on how the client cut the partition into batches, nor on which consumer read it. Pushing a run of
  // messages and then advancing once gives the same windows unless an event is at or below the
  // watermark its message saw (late, or an update of a fired window): cut the run there. Also cut every
  // `watermarkStride` of event time, which keeps the processor's open windows within its horizon.
  private feed(state: PartitionState<R>, events: EventColumns, out: ProducedMessage[], refused: number[] = []): void {
    const p = state.processor
    if (this.columns.keyKind !== 'dense' && p.held && p.keyRoom && p.keyRoom() !== Infinity) {
      this.feedAdmitting(state, events, out, refused)
      return
    }
    const { timestamps } = events
    const stride = state.processor.watermarkStride ?? Infinity
    const channels = this.columns.channels
    const push = (from: number, to: number) => {
      if (to > from) {
        const keys = this.columns.keysOf(from, to)
        state.processor.push({ timestamps: timestamps.subarray(from, to), keys, values: events.values.subarray(from * channels, to * channels) })
      }
    }
    let max = state.maxTimestamp
    let advanced = state.advancedWatermark
    let segment = 0
    let from = 0
    for (const to of this.messageEnds) {
      const seen = max - this.bound - 1
      let messageMax = max
      let behind = false
      for (let i = from; i < to; i++) {
        const t = timestamps[i]!
        if (t <= seen) behind = true
        if (t > messageMax) messageMax = t
      }
      if (seen > advanced && (behind || seen - advanced >= stride)) {
        push(segment, from)
        this.emit(state, state.processor.advanceWatermark(seen), out)
        advanced = seen
        segment = from
      }
      max = messageMax
      from = to
    }
    push(segment, timestamps.length)
    state.maxTimestamp = max
    state.advancedWatermark = this.advanceIfAhead(state, max - this.bound - 1, advanced, out)
  }

  // Idle partitions follow the combined watermark of the active ones (Flink's idleness): their open
  // windows fire although they receive nothing. This depends on processing time, so it is off by default.
  private advanceIdle(current: PartitionState<R>, now: number, out: ProducedMessage[]): void {
    const combined = this.tracker.currentWatermark(now)
    if (!Number.isFinite(combined)) return
    for (const state of this.partitions.values()) {
      if (state === current || !this.tracker.input(state.input).idle) continue
      if (combined <= state.lastIdleWatermark) continue
      state.lastIdleWatermark = combined
      state.replay.push({ idleWatermark: combined })
      const before = out.length
      this.emit(state, state.processor.advanceWatermark(combined), out)
      state.counters.results += out.length - before
      if (out.length > before) state.dirty = true
    }
  }

  private emit(state: PartitionState<R>, results: R[], out: ProducedMessage[]): void {
    const context: ResultContext = { topic: state.topic, partition: state.partition, watermark: state.maxTimestamp - this.bound - 1 }
    const encode = this.options.encodeResult ?? defaultEncodeResult
    for (const result of results) out.push(encode(result, context))
  }

  private async checkpoint(state: PartitionState<R>): Promise<void> {
    const started = performance.now()
    await this.storeSnapshot(state)
    try {
      await this.commitCheckpoint(state)
    } finally {
      this.countCheckpointTime(state, performance.now() - started)
    }
  }

  // Stores the partition's snapshot at its next offset (through the open transaction when the store
  // writes to Kafka) and makes it the state a roll-back starts from.
  private async storeSnapshot(state: PartitionState<R>, transaction?: ProducerTransaction): Promise<void> {
    const { topic, partition, nextOffset, chain, processor } = state
    // A delta builds on the chain's last record; a full record starts a chain (every fullEvery-th, or when the
    // last put failed, or at the same offset: the record there is the one a delta would build on).
    const delta = chain !== undefined && chain.length < this.fullEvery && nextOffset > chain.offset && processor.snapshotDelta !== undefined
    const processorBytes = delta ? processor.snapshotDelta!() : processor.snapshot()
    const header = { topic, partition, offset: nextOffset, maxTimestamp: state.maxTimestamp, ...(delta ? { delta: { base: chain.base, previous: chain.offset } } : {}) }
    const bytes = encodePartitionSnapshot(header, processorBytes)
    state.chain = undefined // until the put succeeded: the processor's changes since are in no stored record
    const storedBefore = this.options.stateStore.stats?.().storedBytes
    await this.options.stateStore.put(topic, partition, nextOffset, bytes, transaction)
    const stored = storedBefore === undefined ? bytes.length : this.options.stateStore.stats!().storedBytes - storedBefore
    state.chain = delta ? { base: chain.base, offset: nextOffset, length: chain.length + 1 } : { base: nextOffset, offset: nextOffset, length: 1 }
    const { saved } = state
    state.saved = delta
      ? { processorBytes: saved.processorBytes, deltas: [...saved.deltas, processorBytes], maxTimestamp: state.maxTimestamp, advancedWatermark: state.advancedWatermark }
      : { processorBytes, deltas: [], maxTimestamp: state.maxTimestamp, advancedWatermark: state.advancedWatermark }
    state.replay = []
    state.dirty = false
    state.lastCheckpointAt = this.clock()
    this.counters.checkpoints++
    const pc = state.counters
    pc.checkpoints++
    pc.lastCheckpointBytes = stored
    pc.checkpointBytes += stored
    this.counters.checkpointBytes += stored
    pc.lastSnapshotBytes = bytes.length
    pc.snapshotBytes += bytes.length
    this.counters.snapshotBytes += bytes.length
  }

  private countCheckpointTime(state: PartitionState<R>, ms: number): void {
    state.counters.lastCheckpointMs = ms
    state.counters.checkpointMs += ms
    this.counters.checkpointMs += ms
  }

  // Exactly-once: the transaction that holds everything produced since the last commit; opened by the
  // first batch after a commit. A client or broker without transactions fails here (KafkaJS against
  // librdkafka's mock cluster: transaction() cannot find the transaction coordinator).
  private async openTransaction(topic: string, partition: number, offset: number): Promise<ProducerTransaction> {
    if (this.transaction) return this.transaction
    try {
      this.transaction = await (this.options.producer as TransactionalProducer).transaction()
    } catch (error) {
      const problem = new SluiceKafkaError('transaction', `producer.transaction() failed, the client or broker cannot do transactions here: ${(error as Error).message}`, 'ERR_NOT_SUPPORTED', topic, partition, offset)
      this.report(problem)
      throw problem
    }
    this.transactionOpenedAt = this.clock()
    this.transactionSends = { pending: [] }
    return this.transaction
  }

  // Exactly-once checkpoint: every partition that changed since the last commit stores its snapshot (the
  // checkpoint record; a KafkaStateStore writes it into the transaction), the offsets go to the group
  // through sendOffsets, and the transaction commits: results, dead letters, checkpoints and offsets
  // become visible together or not at all. A restart resumes at the committed offsets and restores the
  // snapshots stored at exactly those offsets; snapshots of an aborted transaction sit at later offsets.
  private async commitTransaction(): Promise<void> {
    // A partition revoked since its results went into the transaction: its next owner resumes from the last
    // commit, so they must not commit (the rebalance callback already took it out of `assigned`).
    if (this.holdsRevokedResults()) {
      await this.failTransaction('rebalance', new Error('a partition with uncommitted results was revoked'))
      return
    }
    const transaction = this.transaction!
    const started = performance.now()
    const changed = [...this.partitions.values()].filter((state) => state.dirty)
    let call = 'send()'
    try {
      const sends = this.transactionSends
      await Promise.all(sends.pending)
      if (sends.failure !== undefined) throw sends.failure
      call = 'stateStore.put()'
      for (const state of changed) await this.storeSnapshot(state, transaction)
      const topics = new Map<string, { partition: number; offset: string }[]>()
      for (const { topic, partition, nextOffset } of changed) {
        if (!topics.has(topic)) topics.set(topic, [])
        topics.get(topic)!.push({ partition, offset: String(nextOffset) })
      }
      if (topics.size > 0) {
        call = 'sendOffsets()'
        const group = this.librdkafka ? { consumer: this.options.consumer } : { consumerGroupId: this.options.groupId }
        await transaction.sendOffsets({ ...group, topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) })
      }
      call = 'commit()'
      await transaction.commit()
    } catch (error) {
      await this.failTransaction(call, error)
      return
    }
    this.transaction = undefined
    const ms = (performance.now() - started) / Math.max(1, changed.length)
    for (const state of changed) {
      this.countCheckpointTime(state, ms)
      const previous = state.checkpointedOffset
      const previousBase = state.committedBase
      state.checkpointedOffset = state.nextOffset
      state.resumeOffset = state.nextOffset
      state.committedBase = state.chain?.base ?? state.nextOffset
      if (previous >= 0 && previous !== state.nextOffset) await this.options.stateStore.prune(state.topic, state.partition, previousBase)
    }
  }

  // Exactly-once: a transaction call failed (fenced by a newer producer with the same transactionalId,
  // a rebalance, the broker): abort what it holds and go back to the last commit. Every held partition is
  // dropped, the consumer seeks it back to its committed offset, and a partition still ours is restored at
  // once from the snapshot committed there (an idle one gets no batch that would load it, and its windows
  // that fired in the aborted transaction must fire again).
  private async failTransaction(call: string, error: unknown): Promise<void> {
    const transaction = this.transaction
    this.transaction = undefined
    await transaction?.abort().catch(() => undefined)
    const reload: { topic: string; partition: number; offset: number }[] = []
    for (const [id, state] of this.partitions) {
      this.report(new SluiceKafkaError('transaction', `${call} failed, transaction aborted, partition resumes from its last commit: ${(error as Error).message}`, 'ERR_INVALID_STATE', state.topic, state.partition, state.resumeOffset))
      state.processor.close()
      this.partitions.delete(id)
      // A partition the group took away is not ours to seek: its next owner resumes from the group's offset.
      if (this.assignmentKnown && !this.assigned.includes(id)) continue
      try {
        this.options.consumer.seek!({ topic: state.topic, partition: state.partition, offset: String(state.resumeOffset) })
      } catch (seekError) {
        this.report(new SluiceKafkaError('transaction', `seek back to the last commit failed: ${(seekError as Error).message}`, 'ERR_INVALID_STATE', state.topic, state.partition, state.resumeOffset))
        continue
      }
      reload.push({ topic: state.topic, partition: state.partition, offset: state.resumeOffset })
    }
    this.rebuildTracker()
    for (const { topic, partition, offset } of reload) {
      try {
        await this.load(topic, partition, offset)
      } catch (loadError) {
        // The store is unreachable: the partition's next batch loads it (and fails, to be retried, if it still is).
        this.report(new SluiceKafkaError('transaction', `restoring the last commit failed: ${(loadError as Error).message}`, 'ERR_INVALID_STATE', topic, partition, offset))
      }
    }
  }

  // Exactly-once: whether the open transaction holds results of a partition that is no longer assigned here.
  private holdsRevokedResults(): boolean {
    return this.transaction !== undefined && this.assignmentKnown && [...this.partitions].some(([id, state]) => state.dirty && !this.assigned.includes(id))
  }

  private async commitCheckpoint(state: PartitionState<R>): Promise<void> {
    const { topic, partition, nextOffset } = state
    if (nextOffset === state.checkpointedOffset) return
    try {
      await this.options.consumer.commitOffsets([{ topic, partition, offset: String(nextOffset) }])
    } catch (error) {
      // Typically a rebalance: the partition may have moved. The next owner resumes from the last committed checkpoint.
      this.report(new SluiceKafkaError('commit', `offset commit failed: ${(error as Error).message}`, 'ERR_INVALID_STATE', topic, partition, nextOffset))
      return
    }
    const previous = state.checkpointedOffset
    const previousBase = state.committedBase
    state.checkpointedOffset = nextOffset
    state.committedBase = state.chain?.base ?? nextOffset
    // The previous checkpoint stays restorable (a hand-off may resume there) with the chain it builds on.
    if (previous >= 0) await this.options.stateStore.prune(topic, partition, previousBase)
  }

  // Restores the partition's state at the offset consumption resumes from (or starts it empty).
  private async load(topic: string, partition: number, offset: number): Promise<PartitionState<R>> {
    const id = `${topic}/${partition}`
    const old = this.partitions.get(id)
    if (old) {
      old.processor.close()
      this.partitions.delete(id)
    }
    const input = this.inputFor(id)
    const processor = this.options.processor(topic, partition)
    const state: PartitionState<R> = { topic, partition, input, processor, nextOffset: offset, maxTimestamp: -Infinity, advancedWatermark: -Infinity, checkpointedOffset: -1, resumeOffset: offset, lastCheckpointAt: this.clock(), dirty: false,
      saved: { processorBytes: null, deltas: [], maxTimestamp: -Infinity, advancedWatermark: -Infinity }, chain: undefined, committedBase: -1, replay: [], lastIdleWatermark: -Infinity,
      counters: { batches: 0, events: 0, results: 0, deadLetters: 0, checkpoints: 0, lastCheckpointBytes: 0, lastCheckpointMs: 0, checkpointBytes: 0, lastSnapshotBytes: 0, snapshotBytes: 0, checkpointMs: 0, highWatermark: null, latency: new RecentSamples() } }
    let stored: StoredSnapshot | undefined
    let records: StoredSnapshot[] = []
    try {
      stored = await this.options.stateStore.get(topic, partition, offset)
      if (stored) records = await this.chainOf(topic, partition, stored)
    } catch (error) {
      // A store whose records are damaged (an IncrementalStateStore chain with a missing or altered chunk) is
      // treated as a bad snapshot; any other failure (the store unreachable) fails the batch, to be retried.
      if (!(error instanceof SluiceError && error.code === 'ERR_MALFORMED_DATA')) throw error
      this.report(new SluiceKafkaError('snapshot', `stored snapshot unreadable, partition starts empty: ${error.message}`, error.code, topic, partition, offset))
    }
    if (stored && records.length > 0) {
      try {
        // The full record, then each delta in order (chainOf checked the links).
        const decoded = records.map((record) => {
          const { header, processorBytes } = decodePartitionSnapshot(record.bytes)
          if (header.topic !== topic || header.partition !== partition || header.offset !== record.offset) {
            throw new SluiceError(`snapshot belongs to ${header.topic}[${header.partition}]@${header.offset}`, 'ERR_MALFORMED_DATA')
          }
          return { header, processorBytes }
        })
        const [full, ...deltas] = decoded
        processor.restore(full!.processorBytes)
        if (deltas.length > 0 && processor.applyDelta === undefined) throw new SluiceError('snapshot is incremental but the processor takes no deltas (applyDelta)', 'ERR_NOT_SUPPORTED')
        for (const delta of deltas) processor.applyDelta!(delta.processorBytes)
        const { header } = decoded[decoded.length - 1]!
        state.maxTimestamp = header.maxTimestamp
        state.saved = { processorBytes: full!.processorBytes, deltas: deltas.map((d) => d.processorBytes), maxTimestamp: header.maxTimestamp, advancedWatermark: -Infinity }
        state.chain = { base: records[0]!.offset, offset: stored.offset, length: records.length }
        state.committedBase = records[0]!.offset
        state.checkpointedOffset = stored.offset
        this.counters.restores++
        if (stored.offset < offset) {
          // Messages between the snapshot and the resume point are gone from the input (retention, compaction, transaction markers).
          this.report(new SluiceKafkaError('snapshot', `snapshot is at offset ${stored.offset} but consumption resumes at ${offset}`, 'ERR_INVALID_STATE', topic, partition, offset))
        }
      } catch (error) {
        const code = error instanceof SluiceError ? error.code : 'ERR_MALFORMED_DATA'
        this.report(new SluiceKafkaError('snapshot', `snapshot refused, partition starts empty: ${(error as Error).message}`, code, topic, partition, stored.offset))
        processor.close()
        state.processor = this.options.processor(topic, partition)
      }
    }
    if (old && old.nextOffset > offset) this.counters.replayedMessages += old.nextOffset - offset
    this.partitions.set(id, state)
    this.rebuildTracker()
    return state
  }

  // The records a restore at `newest` needs: back along the delta links to the chain's full record, returned
  // oldest first. A link to a record that is missing (or of another chain) is ERR_MALFORMED_DATA; a record
  // that does not decode ends the walk (the restore then reports it as it does any bad snapshot).
  private async chainOf(topic: string, partition: number, newest: StoredSnapshot): Promise<StoredSnapshot[]> {
    const linkOf = (record: StoredSnapshot) => {
      try {
        return decodePartitionSnapshot(record.bytes).header.delta
      } catch {
        return undefined
      }
    }
    const records = [newest]
    for (let link = linkOf(newest); link !== undefined; ) {
      const { previous, base } = link
      const record = await this.options.stateStore.get(topic, partition, previous)
      if (!record || record.offset !== previous) throw new SluiceError(`checkpoint record at offset ${previous}, which the delta at ${records[records.length - 1]!.offset} builds on, is missing`, 'ERR_MALFORMED_DATA')
      link = linkOf(record)
      if (link !== undefined ? link.base !== base : previous !== base) throw new SluiceError(`checkpoint record at offset ${previous} belongs to another chain than the delta at ${newest.offset}`, 'ERR_MALFORMED_DATA')
      records.push(record)
    }
    return records.reverse()
  }

  // The client told us the group's new assignment. It takes effect at once (a commit from now on sees it:
  // commitTransaction() aborts instead of committing results of a partition no longer ours); the rest waits
  // for the batch in progress.
  private assignmentChanged(ids: string[]): void {
    this.assigned = ids
    this.assignmentKnown = true
    void this.enqueue(() => this.onAssignment()).catch(() => undefined)
  }

  // Forgets partitions no longer assigned (their next owner resumes from the last checkpoint) and lets
  // assigned ones without data hold the watermark back. Exactly-once: if the open transaction holds results
  // of a partition that moved, they must not commit: abort and go back to the last commit.
  private async onAssignment(): Promise<void> {
    if (this.holdsRevokedResults()) await this.failTransaction('rebalance', new Error('a partition with uncommitted results was revoked'))
    for (const [id, state] of this.partitions) {
      if (!this.assigned.includes(id)) {
        state.processor.close()
        this.partitions.delete(id)
      }
    }
    this.rebuildTracker()
  }

  // @confluentinc/kafka-javascript has no group events in its KafkaJS API, but its KafkaJS layer always
  // installs librdkafka's rebalance_cb and re-emits each call as a 'rebalance' event on the underlying
  // client (`_getInternalClient()`, what its own producer's sendOffsets uses), synchronously and before
  // it applies the change: a revocation reaches the adapter when it happens, before the next fetch, not
  // when assignment() shows it (its unassign is deferred). Assignments arrive whole (eager protocol, after
  // revoking everything) or as additions (cooperative), revocations as removals: a union and a difference
  // handle both. Returns false where the client cannot be listened to (assignment() is polled instead).
  private listenForRebalances(): boolean {
    const internal = (this.options.consumer as { _getInternalClient?(): unknown })._getInternalClient?.() as { on?: unknown } | null | undefined
    if (!internal || typeof internal.on !== 'function') return false
    if (internal === this.rebalanceSource) return true
    this.rebalanceSource = internal
    const ids = (partitions: unknown) => (Array.isArray(partitions) ? partitions : []).map(({ topic, partition }: { topic: string; partition: number }) => `${topic}/${partition}`)
    ;(internal.on as (event: string, listener: (error: { code?: number } | null, assignment: unknown) => void) => void).call(internal, 'rebalance', (error, assignment) => {
      if (error?.code === LIBRDKAFKA_REVOKE_PARTITIONS) {
        const revoked = new Set(ids(assignment))
        this.assignmentChanged(this.assigned.filter((id) => !revoked.has(id)))
      } else if (error?.code === LIBRDKAFKA_ASSIGN_PARTITIONS) {
        this.assignmentChanged([...new Set([...this.assigned, ...ids(assignment)])])
      }
    })
    return true
  }

  // A client without group events or a rebalance callback: its assignment is read before each batch and
  // before each timer commit, and handled as above when it changed.
  private async pollAssignment(): Promise<void> {
    const { consumer } = this.options
    if (typeof consumer.assignment !== 'function') return
    const ids = consumer.assignment().map(({ topic, partition }) => `${topic}/${partition}`).sort()
    if (ids.join(',') === [...this.assigned].sort().join(',')) return
    this.assigned = ids
    this.assignmentKnown = true
    await this.onAssignment()
  }

  private inputFor(id: string): number {
    let input = this.inputs.get(id)
    if (input === undefined) {
      input = this.inputs.size
      if (input >= this.maxPartitions) throw new SluiceError(`more than maxPartitions (${this.maxPartitions}) partitions`, 'ERR_OUT_OF_RANGE')
      this.inputs.set(id, input)
    }
    return input
  }

  private newTracker(): WatermarkTracker {
    const tracker = new WatermarkTracker({ inputs: this.maxPartitions, bound: this.bound, idleTimeout: this.idleTimeout, clock: this.clock })
    // Partitions not held here neither hold back nor advance the combined watermark.
    for (let i = 0; i < this.maxPartitions; i++) tracker.markIdle(i)
    return tracker
  }

  // A partition's input may only go forward in a tracker; after a restore to an earlier point it starts over.
  // Assigned partitions without data yet hold the combined watermark back (Flink) until they are idle.
  private rebuildTracker(): void {
    this.tracker.close()
    this.tracker = this.newTracker()
    const now = this.clock()
    for (const id of this.assigned) this.tracker.markActive(this.inputFor(id), now)
    for (const state of this.partitions.values()) {
      if (Number.isFinite(state.maxTimestamp)) this.tracker.observe(state.input, Float64Array.of(state.maxTimestamp), now)
    }
  }

  private deadLetter(message: KafkaMessage, problem: SluiceKafkaError, offset: number): ProducedMessage {
    return {
      key: message.key ?? null,
      value: message.value,
      headers: {
        'sluice-error': problem.message,
        'sluice-code': problem.code,
        'sluice-kind': problem.kind,
        'sluice-topic': problem.topic,
        'sluice-partition': String(problem.partition),
        'sluice-offset': String(offset),
      },
    }
  }

  private report(error: SluiceKafkaError): void {
    if (this.options.onError) this.options.onError(error)
    else process.emitWarning(error.message, { code: error.code })
  }
}

function defaultEncodeResult(result: unknown, context: ResultContext): ProducedMessage {
  // Byte keys (Uint8Array) travel as base64 strings, marked keyEncoding: 'base64'.
  if (result && typeof result === 'object' && (result as { key?: unknown }).key instanceof Uint8Array) {
    const bytes = (result as { key: Uint8Array }).key
    result = { ...(result as object), key: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), keyEncoding: 'base64' }
  }
  const r = result as { key?: unknown; start?: unknown; end?: unknown }
  const suffix = r && typeof r === 'object' && 'start' in r ? `/${r.key}/${r.start}/${r.end}` : ''
  return { key: `${context.topic}/${context.partition}${suffix}`, value: JSON.stringify({ topic: context.topic, partition: context.partition, watermark: context.watermark, ...(result as object) }) }
}

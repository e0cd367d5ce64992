// State stores keep per-partition snapshots keyed by topic-partition-offset: the snapshot taken after
// consuming every message below `offset`. The adapter commits `offset` only after put() resolved, and on
// assignment restores the snapshot at the offset it resumes from, so a consumer that dies between a
// put and a commit leaves an unreferenced snapshot, never a wrong one.
import fs from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../runtime/errors'
import { isLibrdkafkaClient } from './client'

export interface StoredSnapshot {
  offset: number
  bytes: Uint8Array
}

export interface StateStore {
  /**
   * Stores the snapshot at `offset`. Exactly-once delivery passes the open producer transaction: a store that
   * writes to Kafka writes through it, so the checkpoint record commits (or aborts) with the results and offsets.
   */
  put(topic: string, partition: number, offset: number, bytes: Uint8Array, transaction?: { send(record: { topic: string; messages: { key: string; value: Buffer | null }[] }): Promise<unknown> }): Promise<void>
  /** The snapshot with the greatest offset ≤ `atOrBefore`, if any. */
  get(topic: string, partition: number, atOrBefore: number): Promise<StoredSnapshot | undefined>
  /** Forgets the partition's snapshots below `keepFrom`. */
  prune(topic: string, partition: number, keepFrom: number): Promise<void>
  close?(): Promise<void>
  /**
   * True for a store whose records written through a transaction become readable only if the transaction
   * commits (KafkaStateStore, read back with read_committed). Exactly-once delivery with `idleTimeout` needs
   * one: an idle partition checkpoints again at an offset it already committed, and only such a store can
   * tell which of the two checkpoints committed.
   */
  readonly transactional?: boolean
  /** Bytes the store wrote since it was made (files, records, chunks): the adapter's `checkpointBytes` metric. */
  stats?(): { storedBytes: number }
}

const OFFSET_DIGITS = 16

/** Snapshots as files `<topic>.<partition>.<offset>.snap` in one directory (tests, single machines, shared volumes). */
export class FileStateStore implements StateStore {
  readonly directory: string
  private made = false
  private storedBytes = 0

  constructor(directory: string) {
    if (typeof directory !== 'string' || directory === '') throw new SluiceError('directory must be a non-empty string', 'ERR_INVALID_TYPE')
    this.directory = directory
  }

  async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
    if (!this.made) {
      await fs.mkdir(this.directory, { recursive: true })
      this.made = true
    }
    const file = path.join(this.directory, this.fileName(topic, partition, offset))
    // Write then rename: a reader never sees half a snapshot, even if this process is killed mid-write.
    const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    const handle = await fs.open(temporary, 'w')
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temporary, file)
    this.storedBytes += bytes.length
  }

  /** Bytes of the snapshot files written since this store was made. */
  stats(): { storedBytes: number } {
    return { storedBytes: this.storedBytes }
  }

  async get(topic: string, partition: number, atOrBefore: number): Promise<StoredSnapshot | undefined> {
    let best: number | undefined
    for (const offset of await this.offsets(topic, partition)) if (offset <= atOrBefore && (best === undefined || offset > best)) best = offset
    if (best === undefined) return undefined
    const bytes = await fs.readFile(path.join(this.directory, this.fileName(topic, partition, best)))
    return { offset: best, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) }
  }

  async prune(topic: string, partition: number, keepFrom: number): Promise<void> {
    for (const offset of await this.offsets(topic, partition)) {
      if (offset < keepFrom) await fs.rm(path.join(this.directory, this.fileName(topic, partition, offset)), { force: true })
    }
  }

  private fileName(topic: string, partition: number, offset: number): string {
    return `${encodeURIComponent(topic)}.${partition}.${String(offset).padStart(OFFSET_DIGITS, '0')}.snap`
  }

  private async offsets(topic: string, partition: number): Promise<number[]> {
    let names: string[]
    try {
      names = await fs.readdir(this.directory)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    const prefix = `${encodeURIComponent(topic)}.${partition}.`
    const offsets: number[] = []
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.snap')) continue
      const offset = Number(name.slice(prefix.length, -5))
      if (Number.isSafeInteger(offset)) offsets.push(offset)
    }
    return offsets
  }
}

/** The parts of a KafkaJS-style client the Kafka state store needs. */
export interface StateTopicClients {
  producer: { send(record: { topic: string; messages: { key: string; value: Buffer | null }[] }): Promise<unknown> }
  /** A consumer of its own (its own group id): the store reads the state topic from the beginning. */
  consumer: {
    subscribe(options: { topic: string; fromBeginning?: boolean }): Promise<unknown>
    run(options: { eachMessage: (payload: { partition: number; message: { offset: string; key: Buffer | null; value: Buffer | null } }) => Promise<void> }): Promise<unknown>
  }
  /** For the state topic's end offsets: get() waits until the store has read up to them. */
  admin: { fetchTopicOffsets(topic: string): Promise<{ partition: number; high: string }[]> }
}

/**
 * Snapshots in a Kafka topic (configure it with cleanup.policy=compact): key `<topic>/<partition>/<offset>`,
 * the value the snapshot; pruned snapshots get tombstones. Reads the whole topic into memory, like a
 * Kafka Streams changelog restore; get() first catches up with the topic's end offsets.
 */
export class KafkaStateStore implements StateStore {
  readonly topic: string
  /** Records put through a transaction are read back only once it committed (the store's consumer reads read_committed). */
  readonly transactional = true
  private storedBytes = 0
  private readonly clients: StateTopicClients
  private readonly timeoutMs: number
  private readonly table = new Map<string, Map<number, Uint8Array>>()
  private readonly position = new Map<number, number>()
  private started: Promise<void> | undefined

  constructor(options: { topic: string; timeoutMs?: number } & StateTopicClients) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    if (typeof options.topic !== 'string' || options.topic === '') throw new SluiceError('topic must be a non-empty string', 'ERR_INVALID_TYPE')
    this.topic = options.topic
    this.clients = { producer: options.producer, consumer: options.consumer, admin: options.admin }
    this.timeoutMs = options.timeoutMs ?? 30_000
  }

  async put(topic: string, partition: number, offset: number, bytes: Uint8Array, transaction?: StateTopicClients['producer']): Promise<void> {
    const key = `${topic}/${partition}/${offset}`
    await (transaction ?? this.clients.producer).send({ topic: this.topic, messages: [{ key, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) }] })
    this.storedBytes += Buffer.byteLength(key) + bytes.length
    // A record put through a transaction may still abort: get() sees it only when the store's consumer reads
    // it back, which a read_committed consumer does once it committed. (An idle partition's checkpoint
    // replaces one at the same key: remembering it now would restore it after an abort.)
    if (!transaction) this.remember(key, bytes)
  }

  /** Bytes of the records (keys and values, tombstones' keys) this store produced since it was made. */
  stats(): { storedBytes: number } {
    return { storedBytes: this.storedBytes }
  }

  async get(topic: string, partition: number, atOrBefore: number): Promise<StoredSnapshot | undefined> {
    await this.catchUp()
    let best: StoredSnapshot | undefined
    for (const [offset, bytes] of this.table.get(`${topic}/${partition}`) ?? []) {
      if (offset <= atOrBefore && (best === undefined || offset > best.offset)) best = { offset, bytes }
    }
    return best
  }

  async prune(topic: string, partition: number, keepFrom: number): Promise<void> {
    const offsets = [...(this.table.get(`${topic}/${partition}`)?.keys() ?? [])].filter((o) => o < keepFrom)
    if (offsets.length === 0) return
    const messages = offsets.map((o) => ({ key: `${topic}/${partition}/${o}`, value: null }))
    await this.clients.producer.send({ topic: this.topic, messages })
    for (const { key } of messages) this.storedBytes += Buffer.byteLength(key)
    for (const o of offsets) this.remember(`${topic}/${partition}/${o}`, null)
  }

  private remember(key: string, value: Uint8Array | null): void {
    const cut = key.lastIndexOf('/')
    const offset = Number(key.slice(cut + 1))
    if (cut < 0 || !Number.isSafeInteger(offset)) return
    const id = key.slice(0, cut)
    let entries = this.table.get(id)
    if (!entries) this.table.set(id, (entries = new Map()))
    if (value === null) entries.delete(offset)
    else entries.set(offset, value)
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      // @confluentinc/kafka-javascript refuses fromBeginning here: configure its consumer with kafkaJS.fromBeginning.
      const consumer = this.clients.consumer
      await consumer.subscribe(isLibrdkafkaClient(consumer) ? { topic: this.topic } : { topic: this.topic, fromBeginning: true })
      await this.clients.consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (message.key) this.remember(message.key.toString('utf8'), message.value ? new Uint8Array(message.value) : null)
          this.position.set(partition, Number(message.offset) + 1)
        },
      })
    })()
    return this.started
  }

  private async catchUp(): Promise<void> {
    await this.start()
    const ends = await this.clients.admin.fetchTopicOffsets(this.topic)
    const deadline = Date.now() + this.timeoutMs
    for (;;) {
      if (ends.every(({ partition, high }) => Number(high) === 0 || (this.position.get(partition) ?? 0) >= Number(high))) return
      if (Date.now() > deadline) throw new SluiceError(`state topic ${this.topic} not read up to its end within ${this.timeoutMs} ms`, 'ERR_INVALID_STATE')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

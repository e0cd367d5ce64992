// Test data for the Kafka tests: per-partition event streams with bounded disorder, a naive reference for
// per-partition tumbling windows, and a reader that collects a topic's messages by key.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { encodeBinaryRecords } from '../../lib/kafka/index'
import { mulberry32 } from '../../lib/runtime/random'

const execFileAsync = promisify(execFile)

export interface PartitionEvents {
  timestamps: number[]
  keys: number[]
  values: number[]
}

/** Deterministic PRNG (mulberry32). */
export const random = mulberry32

/** n events from `base`, `step` apart, each late by < `disorder` (never behind maxTimestamp − disorder). Integer values: sums are exact in any order. */
export function makeEvents(seed: number, n: number, base: number, step: number, disorder: number, keyCount: number, channels: number): PartitionEvents {
  const rnd = random(seed)
  const events: PartitionEvents = { timestamps: [], keys: [], values: [] }
  for (let i = 0; i < n; i++) {
    events.timestamps.push(base + i * step + Math.floor(rnd() * disorder))
    events.keys.push(Math.floor(rnd() * keyCount))
    for (let c = 0; c < channels; c++) events.values.push(Math.floor(rnd() * 100))
  }
  return events
}

export function slice(events: PartitionEvents, from: number, to: number, channels: number): PartitionEvents {
  return { timestamps: events.timestamps.slice(from, to), keys: events.keys.slice(from, to), values: events.values.slice(from * channels, to * channels) }
}

/** Kafka messages of `perMessage` binary records each. */
export function toMessages(events: PartitionEvents, channels: number, perMessage: number, partition: number): { partition: number; value: Buffer }[] {
  const out: { partition: number; value: Buffer }[] = []
  for (let i = 0; i < events.timestamps.length; i += perMessage) {
    const part = slice(events, i, Math.min(i + perMessage, events.timestamps.length), channels)
    out.push({ partition, value: encodeBinaryRecords(part.timestamps, part.keys, part.values, channels) })
  }
  return out
}

export interface ReferenceWindow {
  key: number
  start: number
  end: number
  count: number
  values: number[]
}

/**
 * Tumbling windows of one partition recomputed naively, aggregates count/sum/min/max per channel: the
 * windows with end − 1 ≤ watermark, i.e. those a consumer that saw every event once has emitted.
 */
export function referenceWindows(events: PartitionEvents, size: number, channels: number, watermark: number): Map<string, ReferenceWindow> {
  const windows = new Map<string, ReferenceWindow>()
  for (let i = 0; i < events.timestamps.length; i++) {
    const start = Math.floor(events.timestamps[i]! / size) * size
    const end = start + size
    if (end - 1 > watermark) continue
    const key = events.keys[i]!
    const id = `${key}/${start}/${end}`
    let w = windows.get(id)
    if (!w) {
      w = { key, start, end, count: 0, values: [] }
      for (let c = 0; c < channels; c++) w.values.push(0, 0, Infinity, -Infinity)
      windows.set(id, w)
    }
    w.count++
    for (let c = 0; c < channels; c++) {
      const x = events.values[i * channels + c]!
      const a = c * 4
      w.values[a]! += 1
      w.values[a + 1]! += x
      w.values[a + 2] = Math.min(w.values[a + 2]!, x)
      w.values[a + 3] = Math.max(w.values[a + 3]!, x)
    }
  }
  return windows
}

export type TopicMessages = Map<string, { value: Buffer; headers: Record<string, string> }[]>

/**
 * Every message of `topic` from the beginning, grouped by key, read again until `done` says so (or the
 * timeout). Reads with kcat as a plain consumer: no group to join (the mock cluster delays every first
 * join by 3 s).
 */
export async function collectTopic(brokers: string[], topic: string, done: (byKey: TopicMessages) => boolean, timeoutMs = 20_000): Promise<TopicMessages> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { stdout } = await execFileAsync('kcat', ['-b', brokers.join(','), '-C', '-t', topic, '-o', 'beginning', '-e', '-J', '-q', '-X', 'fetch.wait.max.ms=10'], { maxBuffer: 256 << 20, timeout: 10_000 })
    const byKey: TopicMessages = new Map()
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      const m = JSON.parse(line) as { key: string | null; payload: string | null; headers?: string[] }
      const headers: Record<string, string> = {}
      for (let i = 0; i + 1 < (m.headers?.length ?? 0); i += 2) headers[m.headers![i]!] = m.headers![i + 1]!
      const list = byKey.get(m.key ?? '') ?? []
      list.push({ value: Buffer.from(m.payload ?? ''), headers })
      byKey.set(m.key ?? '', list)
    }
    if (done(byKey)) return byKey
    if (Date.now() > deadline) throw new Error(`topic ${topic}: condition not met within ${timeoutMs} ms (${byKey.size} keys read)`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Polls until `condition` holds or throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

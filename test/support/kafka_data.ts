// Test data for the Kafka tests: per-partition event streams with bounded disorder, a naive reference for
// per-partition tumbling windows, and a reader that collects a topic's messages by key.
import type { Kafka } from 'kafkajs'
import { encodeBinaryRecords } from '../../lib/kafka/index'

export interface PartitionEvents {
  timestamps: number[]
  keys: number[]
  values: number[]
}

/** Deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

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

/** Every message of `topic` from the beginning, grouped by key, until `done` says so (or the timeout). */
export async function collectTopic(
  kafka: Kafka,
  topic: string,
  done: (byKey: Map<string, { value: Buffer; headers: Record<string, string> }[]>) => boolean,
  timeoutMs = 20_000,
): Promise<Map<string, { value: Buffer; headers: Record<string, string> }[]>> {
  const byKey = new Map<string, { value: Buffer; headers: Record<string, string> }[]>()
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 50 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString() ?? ''
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value)
        const list = byKey.get(key) ?? []
        list.push({ value: message.value ?? Buffer.alloc(0), headers })
        byKey.set(key, list)
      },
    })
    const deadline = Date.now() + timeoutMs
    while (!done(byKey)) {
      if (Date.now() > deadline) throw new Error(`topic ${topic}: condition not met within ${timeoutMs} ms (${byKey.size} keys read)`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return byKey
  } finally {
    await consumer.disconnect()
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

// The common snapshot envelope as TypeScript uses it (the pipeline's and the Kafka partition's snapshots):
// the exact byte layout of native/core/base/snapshot.h, and every refusal with its code.
import { describe, expect, it } from 'vitest'
import { WatermarkTracker } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { openSnapshot, sealSnapshot } from '../../lib/runtime/snapshot_envelope'
import { expectSluiceError } from '../helpers'
import { ENVELOPE_HEADER as HEADER, expectEnvelope, withValidCrc } from '../support/snapshot_bytes'

const payload = Uint8Array.from({ length: 37 }, (_, i) => (i * 29 + 3) & 0xff)

describe('snapshot envelope', () => {
  it.each([['pipeline', 6], ['kafka-partition', 7]] as const)('seals a %s payload in the core layout (kind %i), CRC-32 over everything before it', (kind, number) => {
    const bytes = sealSnapshot(kind, payload)
    expect(bytes.length).toBe(HEADER + payload.length + 4)
    expectEnvelope(bytes, number, { payload })
    expect(Array.from(openSnapshot(bytes, kind))).toEqual(Array.from(payload))
    expect(openSnapshot(sealSnapshot(kind, new Uint8Array(0)), kind).length).toBe(0)
  })

  it('opens a payload from a Buffer or a subarray and gives back bytes that do not alias the input', () => {
    const sealed = sealSnapshot('pipeline', payload)
    const framed = new Uint8Array(sealed.length + 8)
    framed.set(sealed, 3)
    const opened = openSnapshot(Buffer.from(framed.buffer, 3, sealed.length), 'pipeline')
    expect(Array.from(opened)).toEqual(Array.from(payload))
    framed[3 + HEADER]! ^= 0xff
    expect(opened[0]).toBe(payload[0])
  })

  it('refuses every truncation and every flipped byte with ERR_MALFORMED_DATA (a damaged version field too)', () => {
    const bytes = sealSnapshot('pipeline', payload)
    for (let cut = 0; cut < bytes.length; cut++) {
      expectSluiceError(() => openSnapshot(bytes.subarray(0, cut), 'pipeline'), 'ERR_MALFORMED_DATA', cut < HEADER + 4 ? /truncated/ : /length does not match/)
    }
    expectSluiceError(() => openSnapshot(Uint8Array.of(...bytes, 0), 'pipeline'), 'ERR_MALFORMED_DATA', /length does not match/)
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice()
      bad[i]! ^= 0x10
      expectSluiceError(() => openSnapshot(bad, 'pipeline'), 'ERR_MALFORMED_DATA', i < 4 ? /not a sluice snapshot/ : i >= 8 && i < HEADER ? /length does not match/ : /checksum mismatch/)
    }
    const flipped = bytes.slice()
    flipped[HEADER + 5]! ^= 1
    expectSluiceError(() => openSnapshot(flipped, 'pipeline'), 'ERR_MALFORMED_DATA', /checksum mismatch/)
    const foreign = bytes.slice()
    foreign.set([0x58, 0x58, 0x58, 0x58], 0)
    expectSluiceError(() => openSnapshot(withValidCrc(foreign), 'pipeline'), 'ERR_MALFORMED_DATA', /not a sluice snapshot/)
  })

  it('refuses a snapshot of another kind, naming both kinds, also a native class snapshot', () => {
    expectSluiceError(() => openSnapshot(sealSnapshot('pipeline', payload), 'kafka-partition'), 'ERR_MALFORMED_DATA', /another kind of object: pipeline, expected kafka-partition$/)
    expectSluiceError(() => openSnapshot(sealSnapshot('kafka-partition', payload), 'pipeline'), 'ERR_MALFORMED_DATA', /another kind of object: kafka-partition, expected pipeline$/)
    const tracker = new WatermarkTracker()
    try {
      expectSluiceError(() => openSnapshot(tracker.snapshot(), 'pipeline'), 'ERR_MALFORMED_DATA', /another kind of object: watermark-tracker, expected pipeline$/)
    } finally {
      tracker.close()
    }
    const unknown = sealSnapshot('pipeline', payload)
    new DataView(unknown.buffer).setUint16(6, 2, true) // a retired kind number
    expectSluiceError(() => openSnapshot(withValidCrc(unknown), 'pipeline'), 'ERR_MALFORMED_DATA', /another kind of object: unknown kind 2, expected pipeline$/)
  })

  it('refuses an intact snapshot of another format version with ERR_NOT_SUPPORTED', () => {
    const later = sealSnapshot('kafka-partition', payload)
    new DataView(later.buffer).setUint16(4, 3, true)
    expectSluiceError(() => openSnapshot(withValidCrc(later), 'kafka-partition'), 'ERR_NOT_SUPPORTED', /^snapshot format version 3 is not supported \(this build reads versions 1 to 2\)$/)
    const older = sealSnapshot('kafka-partition', payload)
    new DataView(older.buffer).setUint16(4, 0, true)
    expectSluiceError(() => openSnapshot(withValidCrc(older), 'kafka-partition'), 'ERR_NOT_SUPPORTED', /^snapshot format version 0 is not supported/)
  })

  it.each([['SLPL', 'a pipeline snapshot'], ['SLKP', 'a Kafka partition snapshot']])('refuses the 0.1 layout %s by name with ERR_NOT_SUPPORTED, whatever kind is asked for', (magic, what) => {
    const old = Uint8Array.from([...Buffer.from(magic, 'latin1'), 1, 0, 0, 0, ...payload, 0, 0, 0, 0])
    for (const kind of ['pipeline', 'kafka-partition'] as const) {
      expectSluiceError(() => openSnapshot(withValidCrc(old.slice()), kind), 'ERR_NOT_SUPPORTED',
        new RegExp(`^cannot restore ${what} in the 0\\.1 layout \\(${magic}\\); this version reads the common sluice envelope \\(SLCE\\); take a new snapshot$`))
    }
  })

  it('the binding refuses unknown kind names and non-byte arrays', () => {
    const { snapshotEnvelope } = native()
    expectSluiceError(() => snapshotEnvelope.seal('time-windows', payload), 'ERR_INVALID_ARGUMENT', /unknown snapshot kind 'time-windows'/)
    expectSluiceError(() => snapshotEnvelope.open(sealSnapshot('pipeline', payload), 'Pipeline'), 'ERR_INVALID_ARGUMENT', /unknown snapshot kind 'Pipeline'/)
    expectSluiceError(() => snapshotEnvelope.seal(6 as unknown as string, payload), 'ERR_INVALID_TYPE', /kind must be a string/)
    expectSluiceError(() => snapshotEnvelope.seal('pipeline', new Float64Array(2) as unknown as Uint8Array), 'ERR_INVALID_TYPE', /payload must be a Uint8Array/)
    expectSluiceError(() => snapshotEnvelope.open([1, 2] as unknown as Uint8Array, 'pipeline'), 'ERR_INVALID_TYPE', /bytes must be a Uint8Array/)
  })
})

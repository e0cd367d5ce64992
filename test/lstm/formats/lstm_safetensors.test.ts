// LstmWeights from a PyTorch state_dict saved with safetensors: names and shapes as torch.nn.LSTM and
// torch.nn.Linear define them (weight_ih_l{k} [4H, in], weight_hh_l{k} [4H, H], bias_*_l{k} [4H],
// fc.weight [O, H], fc.bias [O]); files are written here with the generic writer under those names.
import { describe, expect, it } from 'vitest'
import { lstmWeightsFromSafetensors, lstmWeightsToSafetensors, readSafetensors, writeSafetensors, type LstmWeights, type SafetensorsTensorInput } from '../../../lib/index'
import { checkLstmWeights } from '../../../lib/lstm/lstm_weights'
import { expectSluiceError } from '../../helpers'
import { fuzzParser, overwritten } from '../../support/fuzz'
import { randomLstmWeights, seededRandom } from '../../support/lstm_reference'

/** A state_dict as PyTorch names it, from weights (written without lstmWeightsToSafetensors). */
function stateDict(weights: LstmWeights, prefix = 'lstm.', headPrefix = 'fc.'): Map<string, SafetensorsTensorInput> {
  const { inputSize: I, hiddenSize: H } = weights
  const dict = new Map<string, SafetensorsTensorInput>()
  weights.layers.forEach((layer, k) => {
    dict.set(`${prefix}weight_ih_l${k}`, { shape: [4 * H, k === 0 ? I : H], data: layer.weightIh })
    dict.set(`${prefix}weight_hh_l${k}`, { shape: [4 * H, H], data: layer.weightHh })
    if (layer.biasIh) dict.set(`${prefix}bias_ih_l${k}`, { shape: [4 * H], data: layer.biasIh })
    if (layer.biasHh) dict.set(`${prefix}bias_hh_l${k}`, { shape: [4 * H], data: layer.biasHh })
  })
  if (weights.head) {
    dict.set(`${headPrefix}weight`, { shape: [weights.head.weight.length / H, H], data: weights.head.weight })
    if (weights.head.bias) dict.set(`${headPrefix}bias`, { shape: [weights.head.bias.length], data: weights.head.bias })
  }
  return dict
}

const sample = () => randomLstmWeights(seededRandom(7), { inputSize: 3, hiddenSize: 5, layers: 2, outputSize: 2 })

describe('lstmWeightsFromSafetensors', () => {
  it('reads a PyTorch state_dict: sizes inferred, tensors exact, other modules ignored', () => {
    const weights = sample()
    const dict = stateDict(weights)
    dict.set('embedding.weight', { shape: [2, 3], data: new Float32Array(6) })
    dict.set('norm.num_batches_tracked', { shape: [], data: BigInt64Array.of(0n) })
    const loaded = lstmWeightsFromSafetensors(writeSafetensors(dict))
    expect(loaded).toEqual(weights)
    expect(loaded.inputSize).toBe(3)
    expect(loaded.hiddenSize).toBe(5)
    expect(loaded.layers).toHaveLength(2)
    expect(loaded.head!.weight.length).toBe(2 * 5)
  })

  it('honours prefix, headPrefix null, layers, and biasless models', () => {
    const weights = randomLstmWeights(seededRandom(8), { inputSize: 4, hiddenSize: 3, layers: 3, bias: false })
    const bare = writeSafetensors(stateDict(weights, ''))
    expect(lstmWeightsFromSafetensors(bare, { prefix: '', headPrefix: null, layers: 3 })).toEqual(weights)
    const withHead = randomLstmWeights(seededRandom(9), { inputSize: 2, hiddenSize: 4, layers: 1, outputSize: 3 })
    const nested = writeSafetensors(stateDict(withHead, 'model.encoder.rnn.', 'model.decoder.'))
    expect(lstmWeightsFromSafetensors(nested, { prefix: 'model.encoder.rnn.', headPrefix: 'model.decoder.' })).toEqual(withHead)
    const { head: _head, ...noHead } = withHead
    expect(lstmWeightsFromSafetensors(nested, { prefix: 'model.encoder.rnn.', headPrefix: null })).toEqual(noHead)
    expectSluiceError(() => lstmWeightsFromSafetensors(nested, { prefix: 'model.encoder.rnn.', layers: 2 }), 'ERR_INVALID_ARGUMENT', /layers is 2 but the file holds 1/)
  })

  it('converts F16 / BF16 / F64 weights', () => {
    const H = 1
    const dict = new Map<string, SafetensorsTensorInput>([
      ['lstm.weight_ih_l0', { shape: [4, 1], data: Uint16Array.of(0x3c00, 0xbc00, 0x3800, 0x4000), dtype: 'F16' }], // 1, -1, 0.5, 2
      ['lstm.weight_hh_l0', { shape: [4 * H, H], data: Uint16Array.of(0x3f80, 0x4049, 0, 0xbf00), dtype: 'BF16' }], // 1, 3.140625, 0, -0.5
      ['lstm.bias_ih_l0', { shape: [4], data: Float64Array.of(0.25, 0.1, -3, 1e-8) }],
    ])
    const loaded = lstmWeightsFromSafetensors(writeSafetensors(dict))
    expect(Array.from(loaded.layers[0]!.weightIh)).toEqual([1, -1, 0.5, 2])
    expect(Array.from(loaded.layers[0]!.weightHh)).toEqual([1, 3.140625, 0, -0.5])
    expect(Array.from(loaded.layers[0]!.biasIh!)).toEqual([0.25, 0.1, -3, 1e-8].map(Math.fround))
    expect(loaded.layers[0]!.biasHh).toBeUndefined()
  })

  it('reads F32 weights without copying them', () => {
    const bytes = lstmWeightsToSafetensors(sample())
    expect(lstmWeightsFromSafetensors(bytes).layers[0]!.weightIh.buffer).toBe(bytes.buffer)
  })

  it('names the tensor, the expected and the actual shape of a wrong one', () => {
    const cases: [string, SafetensorsTensorInput, RegExp][] = [
      ['lstm.weight_hh_l0', { shape: [20, 4], data: new Float32Array(80) }, /'lstm\.weight_hh_l0' has shape \[20, 4\], expected \[4·hidden, hidden\]/],
      ['lstm.weight_ih_l0', { shape: [16, 3], data: new Float32Array(48) }, /'lstm\.weight_ih_l0' has shape \[16, 3\], expected \[20 \(4·hidden\), input ≥ 1\]/],
      ['lstm.weight_ih_l1', { shape: [20, 4], data: new Float32Array(80) }, /'lstm\.weight_ih_l1' has shape \[20, 4\], expected \[20, 5\]/],
      ['lstm.weight_hh_l1', { shape: [20, 5, 1], data: new Float32Array(100) }, /'lstm\.weight_hh_l1' has shape \[20, 5, 1\], expected \[20, 5\]/],
      ['lstm.bias_ih_l1', { shape: [21], data: new Float32Array(21) }, /'lstm\.bias_ih_l1' has shape \[21\], expected \[20\]/],
      ['lstm.bias_hh_l0', { shape: [1, 20], data: new Float32Array(20) }, /'lstm\.bias_hh_l0' has shape \[1, 20\], expected \[20\]/],
      ['fc.weight', { shape: [2, 4], data: new Float32Array(8) }, /'fc\.weight' has shape \[2, 4\], expected \[output ≥ 1, 5 \(hidden\)\]/],
      ['fc.bias', { shape: [3], data: new Float32Array(3) }, /'fc\.bias' has shape \[3\], expected \[2\]/],
    ]
    for (const [name, replacement, message] of cases) {
      const dict = stateDict(sample())
      dict.set(name, replacement)
      expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(dict)), 'ERR_MALFORMED_DATA', message)
    }
  })

  it('refuses missing layers and stray tensors', () => {
    const dict = stateDict(sample())
    dict.delete('lstm.weight_hh_l1')
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(dict)), 'ERR_MALFORMED_DATA', /'lstm\.weight_hh_l1' is missing/)
    const gap = stateDict(sample())
    gap.set('lstm.weight_ih_l3', { shape: [20, 5], data: new Float32Array(100) })
    gap.set('lstm.weight_hh_l3', { shape: [20, 5], data: new Float32Array(100) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(gap)), 'ERR_MALFORMED_DATA', /'lstm\.weight_ih_l2' is missing/)
    const stray = stateDict(sample())
    stray.set('lstm.weight_xx_l0', { shape: [1], data: new Float32Array(1) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(stray)), 'ERR_NOT_SUPPORTED', /unexpected tensor 'lstm\.weight_xx_l0'/)
    const headStray = stateDict(sample())
    headStray.set('fc.0.weight', { shape: [1], data: new Float32Array(1) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(headStray)), 'ERR_NOT_SUPPORTED', /unexpected tensor 'fc\.0\.weight' under the head prefix/)
    const biasOnly = stateDict(sample())
    biasOnly.delete('fc.weight')
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(biasOnly)), 'ERR_MALFORMED_DATA', /'fc\.bias' is present but 'fc\.weight' is missing/)
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(stateDict(sample(), 'rnn.'))), 'ERR_INVALID_ARGUMENT', /no LSTM tensor with the prefix 'lstm\.'.*rnn\.weight_ih_l0/)
  })

  it('refuses bidirectional LSTMs, projections and integer weights with ERR_NOT_SUPPORTED', () => {
    const reverse = stateDict(sample())
    reverse.set('lstm.weight_ih_l0_reverse', { shape: [20, 3], data: new Float32Array(60) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(reverse)), 'ERR_NOT_SUPPORTED', /'lstm\.weight_ih_l0_reverse'.*bidirectional/)
    const projection = stateDict(sample())
    projection.set('lstm.weight_hr_l0', { shape: [2, 5], data: new Float32Array(10) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(projection)), 'ERR_NOT_SUPPORTED', /'lstm\.weight_hr_l0'.*projections/)
    const integer = stateDict(sample())
    integer.set('lstm.bias_ih_l0', { shape: [20], data: new Int32Array(20) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(integer)), 'ERR_NOT_SUPPORTED', /'lstm\.bias_ih_l0' is I32/)
  })

  it('refuses NaN and infinite weights with ERR_INVALID_ARGUMENT naming the tensor', () => {
    for (const [name, value] of [['lstm.weight_hh_l1', NaN], ['fc.bias', -Infinity], ['lstm.bias_hh_l0', Infinity]] as const) {
      const dict = stateDict(sample())
      const tensor = dict.get(name)!
      const data = Float32Array.from(tensor.data as Float32Array)
      data[data.length - 1] = value
      dict.set(name, { ...tensor, data })
      expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(dict)), 'ERR_INVALID_ARGUMENT', new RegExp(`'${name.replace('.', '\\.')}' holds ${value} at element ${data.length - 1}`))
    }
    // F64 values beyond float32's range become Infinity and are refused the same way.
    const dict = stateDict(sample())
    dict.set('lstm.bias_ih_l0', { shape: [20], data: Float64Array.from({ length: 20 }, (_, i) => (i === 3 ? 1e39 : 0)) })
    expectSluiceError(() => lstmWeightsFromSafetensors(writeSafetensors(dict)), 'ERR_INVALID_ARGUMENT', /'lstm\.bias_ih_l0' holds Infinity at element 3/)
  })

  it('passes file errors through and checks its options', () => {
    expectSluiceError(() => lstmWeightsFromSafetensors(new Uint8Array(3)), 'ERR_MALFORMED_DATA', /safetensors/)
    expectSluiceError(() => lstmWeightsFromSafetensors(lstmWeightsToSafetensors(sample()), { layers: 0 }), 'ERR_INVALID_ARGUMENT', /options\.layers/)
    expectSluiceError(() => lstmWeightsFromSafetensors(lstmWeightsToSafetensors(sample()), { prefix: 3 as unknown as string }), 'ERR_INVALID_TYPE', /prefix/)
  })
})

describe('lstmWeightsToSafetensors', () => {
  it('writes PyTorch names and shapes, and round-trips exactly', () => {
    const weights = sample()
    const bytes = lstmWeightsToSafetensors(weights, { metadata: { format: 'pt' } })
    const tensors = readSafetensors(bytes)
    expect(Object.fromEntries([...tensors].map(([name, t]) => [name, t.shape]))).toEqual({
      'lstm.weight_ih_l0': [20, 3], 'lstm.weight_hh_l0': [20, 5], 'lstm.bias_ih_l0': [20], 'lstm.bias_hh_l0': [20],
      'lstm.weight_ih_l1': [20, 5], 'lstm.weight_hh_l1': [20, 5], 'lstm.bias_ih_l1': [20], 'lstm.bias_hh_l1': [20],
      'fc.weight': [2, 5], 'fc.bias': [2],
    })
    expect(lstmWeightsFromSafetensors(bytes)).toEqual(weights)
    const custom = lstmWeightsToSafetensors(weights, { prefix: 'rnn.', headPrefix: 'out.' })
    expect(lstmWeightsFromSafetensors(custom, { prefix: 'rnn.', headPrefix: 'out.' })).toEqual(weights)
  })

  it('fills a lone bias with zeros for its partner (PyTorch has both or neither)', () => {
    const weights = randomLstmWeights(seededRandom(3), { inputSize: 2, hiddenSize: 2, layers: 1, bias: false })
    weights.layers[0]!.biasHh = Float32Array.from({ length: 8 }, (_, i) => i)
    const loaded = lstmWeightsFromSafetensors(lstmWeightsToSafetensors(weights))
    expect(Array.from(loaded.layers[0]!.biasIh!)).toEqual(new Array(8).fill(0))
    expect(loaded.layers[0]!.biasHh).toEqual(weights.layers[0]!.biasHh)
  })

  it('checks the weights it is given', () => {
    const wrongLength = sample()
    wrongLength.layers[1]!.weightHh = new Float32Array(7)
    expectSluiceError(() => lstmWeightsToSafetensors(wrongLength), 'ERR_INVALID_LENGTH', /layers\[1\]\.weightHh must have 4·hiddenSize·hiddenSize = 100 floats, got 7/)
    const nan = sample()
    nan.head!.weight[0] = NaN
    expectSluiceError(() => lstmWeightsToSafetensors(nan), 'ERR_INVALID_ARGUMENT', /head\.weight holds NaN/)
    const wrongType = sample()
    wrongType.layers[0]!.weightIh = new Float64Array(60) as unknown as Float32Array
    expectSluiceError(() => lstmWeightsToSafetensors(wrongType), 'ERR_INVALID_TYPE', /layers\[0\]\.weightIh must be a Float32Array/)
    expectSluiceError(() => lstmWeightsToSafetensors({ ...sample(), hiddenSize: 0 }), 'ERR_OUT_OF_RANGE', /hiddenSize/)
    expectSluiceError(() => lstmWeightsToSafetensors({ ...sample(), layers: [] }), 'ERR_INVALID_ARGUMENT', /layers/)
    expectSluiceError(() => lstmWeightsToSafetensors(sample(), { prefix: 'x.', headPrefix: 'x.' }), 'ERR_INVALID_ARGUMENT', /headPrefix/)
  })
})

describe('fuzz: damaged LSTM safetensors files', () => {
  it('load a consistent LstmWeights or throw SluiceError, nothing else', () => {
    const valid = lstmWeightsToSafetensors(sample())
    const random = seededRandom(77)
    const damaged = (trial: number): Uint8Array => {
      const bytes = Uint8Array.from(valid)
      if (trial % 2 === 1) return overwritten(bytes, random, 3)
      // Damage the JSON header, where names, shapes and offsets live.
      const headerLength = new DataView(bytes.buffer).getUint32(0, true)
      for (let k = 0; k < 1 + random() * 3; k++) bytes[8 + Math.floor(random() * headerLength)] = '0123456789_l.[],"'.charCodeAt(Math.floor(random() * 17))
      return bytes
    }
    const codes = fuzzParser('LSTM safetensors fuzz', 4000, damaged, (bytes) => checkLstmWeights(lstmWeightsFromSafetensors(bytes), { finite: true }))
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(500)
  })
})

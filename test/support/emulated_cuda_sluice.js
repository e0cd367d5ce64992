// sluice's API with a pretend CUDA backend that computes on the CPU, so that scripts/gpu-check.js can be
// run end to end on a machine without a GPU (its control flow, report and exit status; not CUDA itself).
'use strict'
const path = require('node:path')
const sluice = require(path.join(__dirname, '..', '..', 'dist'))

function delegate(target, overrides) {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop]
      const value = Reflect.get(t, prop, t)
      return typeof value === 'function' ? value.bind(t) : value
    },
  })
}

class LstmModel {
  static fromWeights(weights, options = {}) {
    const real = sluice.LstmModel.fromWeights(weights, { ...options, backend: 'cpu', cudnnAlgorithm: undefined })
    if (options.backend !== 'cuda') return real
    let last = 'auto'
    const algorithm = options.cudnnAlgorithm ?? 'auto'
    const ran = () => { last = algorithm === 'auto' ? 'standard' : algorithm }
    return delegate(real, {
      backend: 'cuda',
      simd: 'cuda',
      predict: (...args) => { ran(); return real.predict(...args) },
      predictAsync: (...args) => { ran(); return real.predictAsync(...args) },
      cudaInfo: () => ({ deviceBytes: 0, pinnedBytes: 0, algorithm: last, device: 'emulated' }),
      createWindows: (o) => { const w = real.createWindows(o); return delegate(w, { backend: 'cuda' }) },
    })
  }
}

module.exports = {
  ...sluice,
  LstmModel,
  backends: () => {
    const report = sluice.backends()
    return { ...report, cuda: { ...report.cuda, available: true, reason: null, emulated: true } }
  },
}

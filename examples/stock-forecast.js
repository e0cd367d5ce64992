// Next-day forecast of the S&P 500 close, trained natively on the CPU with LstmModel.fit.
// Data: vega-datasets' sp500-2000.csv (daily open/high/low/close, 2000–2020; BSD-3-Clause package).
// The model sees 20 days of log-returns (open, high, low and close against the previous close, z-scored
// with statistics of the training part only) and forecasts the next day's close-to-close log-return; its
// close forecast is last close · e^return. Trained on the first 70% of the days, scored (RMSE in index
// points) on the last 30% against the naive forecast "tomorrow's close = today's close". A daily stock
// index is close to a random walk: expect the two to be close, whichever wins.
// Run: npm run build:ts && node examples/stock-forecast.js
//
// With a Keras model file, the example forecasts with that model instead of training one:
//   node examples/stock-forecast.js model.keras      (or a Keras 2 model.h5)
// The model must take these features ([steps, 4]: the four log-returns, z-scored as here) or the close
// log-return alone ([steps, 1]), and output the next z-scored close log-return first; its input shape fixes
// the window length when it names one.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { LstmModel, Scaler, windows } = require('../dist')

const kerasFile = process.argv[2]
const keras = kerasFile === undefined ? undefined : LstmModel.fromKeras(kerasFile, { threads: 2 })
if (keras !== undefined && keras.inputSize !== 4 && keras.inputSize !== 1) {
  console.error(`${kerasFile} takes ${keras.inputSize} features per step; this example feeds 4 (open, high, low, close log-returns) or 1 (close)`)
  process.exit(1)
}
const STEPS = keras?.inputSteps ?? 20
// vega-datasets exports only its JS entry: the data folder sits beside build/.
const csv = fs.readFileSync(path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'sp500-2000.csv'), 'utf8')
const rows = csv.trim().split('\n').slice(1).map((line) => line.split(','))
const open = rows.map((r) => +r[1]), high = rows.map((r) => +r[2]), low = rows.map((r) => +r[3]), close = rows.map((r) => +r[4])

// features[d − 1] for day d ≥ 1: log(open, high, low, close / previous close)
const days = rows.length - 1
const features = new Float32Array(days * 4)
for (let d = 1; d <= days; d++) {
  const prev = close[d - 1]
  features.set([Math.log(open[d] / prev), Math.log(high[d] / prev), Math.log(low[d] / prev), Math.log(close[d] / prev)], (d - 1) * 4)
}
const split = Math.floor(days * 0.7) // feature rows [0, split) are training data
const scaler = Scaler.fit('zscore', features, { channels: 4, rows: split })
const scaled = scaler.transform(features)
// Test windows: every window whose target row is ≥ split (they may look back into the training days).
const test = windows(scaled.subarray((split - STEPS) * 4), { channels: 4, steps: STEPS, targets: [3] })
const target = scaler.select([3])

let model, trainedOn, predicted
if (keras !== undefined) {
  model = keras
  // A one-feature model reads the close column alone.
  const x = keras.inputSize === 4 ? test.x : test.x.filter((_, i) => i % 4 === 3)
  const out = model.predict(x, { steps: STEPS, batch: test.batch })
  const firstOutput = out.filter((_, i) => i % model.outputSize === 0)
  predicted = target.inverse(firstOutput)
  trainedOn = `Keras model ${kerasFile} (${model.numLayers} LSTM layers of ${model.hiddenSize}, ${STEPS} steps of ${model.inputSize} features)`
} else {
  const train = windows(scaled.subarray(0, split * 4), { channels: 4, steps: STEPS, targets: [3] })
  model = LstmModel.create({ inputSize: 4, hiddenSize: 32, outputSize: 1, seed: 1, threads: 2 })
  model.scalers = { input: scaler, target }
  const started = performance.now()
  const history = model.fit(train.x, train.y, {
    epochs: 30, batchSize: 64, learningRate: 1e-3, validationSplit: 0.15, patience: 5, clipNorm: 1, seed: 1,
    onEpoch: (p) => console.log(`epoch ${String(p.epoch).padStart(2)}  loss ${p.loss.toFixed(4)}  val ${p.valLoss.toFixed(4)}  ${p.examplesPerSecond.toFixed(0)} windows/s`),
  })
  const seconds = (performance.now() - started) / 1000
  predicted = model.scalers.target.inverse(model.predict(test.x, { steps: STEPS, batch: test.batch }))
  trainedOn = `trained on ${train.batch} windows (${rows[1][0]} … ${rows[split][0]}) in ${seconds.toFixed(1)} s, best epoch ${history.bestEpoch}${history.stoppedEarly ? ' (stopped early)' : ''}`
}

let modelSquares = 0, naiveSquares = 0
for (let b = 0; b < test.batch; b++) {
  const day = split + b + 1 // the forecast day (features row split + b)
  const last = close[day - 1]
  modelSquares += (last * Math.exp(predicted[b]) - close[day]) ** 2
  naiveSquares += (last - close[day]) ** 2
}
const modelRmse = Math.sqrt(modelSquares / test.batch), naiveRmse = Math.sqrt(naiveSquares / test.batch)
console.log(`\n${trainedOn}`)
console.log(`next-day close RMSE on the last 30% (${test.batch} days, ${rows[split + 1][0]} … ${rows[rows.length - 1][0]}):`)
console.log(`  LSTM             ${modelRmse.toFixed(2)} points`)
console.log(`  naive last value ${naiveRmse.toFixed(2)} points`)
console.log(modelRmse < naiveRmse ? `the LSTM wins by ${(100 * (1 - modelRmse / naiveRmse)).toFixed(2)}%` : `the naive forecast wins by ${(100 * (1 - naiveRmse / modelRmse)).toFixed(2)}%`)
model.close()

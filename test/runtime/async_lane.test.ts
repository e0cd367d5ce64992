// The async lane's bounded spins (native/addon/async_lane.h): its thread and the event loop spin briefly
// before they sleep, so that an awaited call does not pay two wake-ups of halted CPUs. The spins must stop:
// an idle lane uses no CPU and never keeps the process alive, whatever the spin settings; and spinning or
// not changes no result. Each case runs in a child process (its own lane, its own CPU accounting).
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers'

const prelude = `
  const sluice = require('./dist')
  const testing = require('./dist/runtime/native').native().testing
  const newWindow = () => new sluice.SlidingWindow({ size: 8, slide: 3, channels: 2, aggregates: ['mean', 'max'] })
  const values = Float64Array.from({ length: 600 }, (_, i) => Math.sin(i / 7) * 100)
`

describe('the async lane spins only while calls are in flight', () => {
  it('after a burst of awaited calls the process uses no CPU while idle (1 s) and exits at once, even with a 1 s event-loop spin', () => {
    const out = runNode(`${prelude}
      ;(async () => {
        const [workerUs] = testing.setLaneSpin(0, 0)
        testing.setLaneSpin(workerUs, 1e6) // the loop may poll up to 1 s after each call: it must stop when the calls end
        const slider = newWindow()
        for (let i = 0; i < 2000; i++) await testing.noopLane()
        for (let i = 0; i < 200; i++) await slider.pushAsync(values)
        await Promise.all(Array.from({ length: 50 }, () => testing.noopLane()))
        const cpu = process.cpuUsage()
        await new Promise((resolve) => setTimeout(resolve, 1000))
        const used = process.cpuUsage(cpu)
        const idleCpuMs = (used.user + used.system) / 1000
        const ended = Date.now()
        process.on('exit', () => console.log(JSON.stringify({ idleCpuMs, exitAfterMs: Date.now() - ended })))
      })()
    `)
    const result = JSON.parse(out)
    // A spin that never stopped would use most of the second (the timer and GC use a few ms).
    expect(result.idleCpuMs).toBeLessThan(100)
    expect(result.exitAfterMs).toBeLessThan(500)
  })

  it('jobs about as long as the poll all complete, taken by the polling loop or after a wake-up, and their continuations run at once', () => {
    // The loop polls 40 µs after each call and takes what finished meanwhile itself; a job that outlasts the
    // poll must still be delivered (the hand-off when the poll ends: async_lane.h). Each continuation then
    // waits for a process.nextTick: ticks and microtasks must run when the loop's delivery ends, or nothing
    // else would run them here (no timer, no I/O) and the run would stall until the guard.
    const out = runNode(`${prelude}
      ;(async () => {
        const [workerUs] = testing.setLaneSpin(0, 0)
        testing.setLaneSpin(workerUs, 40)
        const guard = setTimeout(() => { console.log(JSON.stringify({ stalledAt: done })); process.exit(0) }, 20000)
        const busyUs = [0, 5, 20, 35, 39, 41, 45, 80]
        let done = 0
        for (let i = 0; i < 4000; i++) {
          await testing.noopLane(busyUs[i % busyUs.length])
          await new Promise((resolve) => process.nextTick(resolve))
          done++
        }
        clearTimeout(guard)
        const [byLoop, byWake] = testing.laneDeliveries()
        console.log(JSON.stringify({ done, byLoop, byWake, cpus: require('os').availableParallelism() }))
      })()
    `)
    const result = JSON.parse(out)
    expect(result).toMatchObject({ done: 4000 })
    expect(result.byLoop + result.byWake).toBe(4000)
    // With two CPUs the lane's thread and the JS thread run apart often enough over 4000 calls for the loop
    // to take some itself (on one CPU it never polls: async_lane.h).
    if (result.cpus >= 2) expect(result.byLoop).toBeGreaterThan(0)
  })

  it('the lane gives the same results with its spins off, as shipped, and long', () => {
    const out = runNode(`${prelude}
      ;(async () => {
        const [workerUs, loopUs] = testing.setLaneSpin(0, 0)
        const settings = [[0, 0], [workerUs, loopUs], [5000, 5000]]
        const runs = []
        for (const [w, l] of settings) {
          testing.setLaneSpin(w, l)
          const awaited = newWindow()
          const out = []
          for (let i = 0; i < 100; i++) out.push(...(await awaited.pushAsync(values.subarray(2 * i, 2 * i + 18))))
          const parts = await Promise.all(Array.from({ length: 20 }, (_, i) => newWindow().pushAsync(values.subarray(i * 5, i * 5 + 40))))
          runs.push({ awaited: out, together: parts.map((p) => Array.from(p)), shipped: [workerUs, loopUs] })
        }
        console.log(JSON.stringify(runs))
      })()
    `)
    const runs = JSON.parse(out)
    expect(runs[1].shipped[0]).toBeGreaterThan(0) // the shipped lane does spin
    expect(runs[0].awaited.length).toBeGreaterThan(500)
    expect(runs[1]).toEqual({ ...runs[0], shipped: runs[1].shipped })
    expect(runs[2]).toEqual({ ...runs[0], shipped: runs[2].shipped })
  })
})

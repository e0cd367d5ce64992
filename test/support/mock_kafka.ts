// Starts librdkafka's built-in mock cluster through Debian's kcat (a Kafka-protocol broker on loopback)
// and returns its bootstrap addresses. The cluster lives as long as the kcat process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'

export interface MockCluster {
  brokers: string[]
  stop(): Promise<void>
}

/** Why the Kafka tests cannot run here, or undefined when kcat is available. */
export function kcatMissingReason(): string | undefined {
  const probe = spawnSync('kcat', ['-V'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) return 'kcat not found (apt-get install kcat): Kafka broker tests skipped'
  return undefined
}

export function startMockCluster(brokerCount = 3, timeoutMs = 10_000): Promise<MockCluster> {
  return new Promise((resolve, reject) => {
    // A consumer of a dummy topic keeps kcat (and its mock cluster) alive; -d mock logs the bootstrap address.
    const child: ChildProcess = spawn('kcat', ['-b', 'dummy:9092', '-X', `test.mock.num.brokers=${brokerCount}`, '-d', 'mock', '-C', '-q', '-t', '__sluice_mock_keepalive'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let log = ''
    let settled = false
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000)
        await exited
        clearTimeout(killer)
      }
    }
    const timer = setTimeout(() => fail(new Error(`kcat printed no mock bootstrap address within ${timeoutMs} ms:\n${log.slice(-2000)}`)), timeoutMs)
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      void stop()
      reject(error)
    }
    child.once('error', fail)
    child.once('exit', (code, signal) => fail(new Error(`kcat exited (${code ?? signal}) before the mock cluster started:\n${log.slice(-2000)}`)))
    child.stderr!.setEncoding('utf8')
    const onData = (chunk: string) => {
      log += chunk
      const match = /Mock cluster \S+ bootstrap\.servers=(\S+)/.exec(log)
      if (!match || settled) return
      settled = true
      clearTimeout(timer)
      // Keep draining the debug log (a full pipe would block kcat) but stop storing it.
      child.stderr!.off('data', onData)
      child.stderr!.resume()
      const brokers = match[1]!.split(',')
      if (!brokers.every((b) => b.startsWith('127.0.0.1:'))) {
        void stop()
        reject(new Error(`mock cluster is not on loopback: ${match[1]}`))
        return
      }
      resolve({ brokers, stop })
    }
    child.stderr!.on('data', onData)
  })
}

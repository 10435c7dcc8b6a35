// Sinks and sources as worker threads of the bench process, driven by messages.
import { Worker } from "node:worker_threads"

const once = (worker, type) =>
  new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type === type) {
        worker.off("message", onMessage)
        resolve(message)
      }
    }
    worker.on("message", onMessage)
    worker.once("error", reject)
  })

/** A sink thread listening on 127.0.0.1 (see sinkWorker.mjs for the modes). */
export const startSink = async (mode, extra = {}) => {
  const worker = new Worker(new URL("./sinkWorker.mjs", import.meta.url), { workerData: { mode, ...extra } })
  const { port } = await once(worker, "listening")
  return {
    port,
    /** Resolves when `bytes` have arrived in all, with the time the last arrived. */
    complete: (bytes) => {
      const done = once(worker, "complete")
      worker.postMessage({ type: "expect", bytes })
      return done
    },
    report: () => {
      const reply = once(worker, "report")
      worker.postMessage({ type: "report" })
      return reply
    },
    close: async () => {
      const exited = new Promise((resolve) => worker.once("exit", resolve))
      worker.postMessage({ type: "close" })
      await exited
    }
  }
}

/** A source thread (see sourceWorker.mjs); `sent` resolves once it has written everything and ended. */
export const startSource = (workerData) => {
  const worker = new Worker(new URL("./sourceWorker.mjs", import.meta.url), { workerData })
  const started = once(worker, "started")
  const sent = once(worker, "sent")
  const exited = new Promise((resolve) => worker.once("exit", resolve))
  return {
    started,
    sent,
    stop: () => worker.postMessage({ type: "stop" }),
    close: async () => {
      await worker.terminate()
      await exited
    }
  }
}

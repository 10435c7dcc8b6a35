// Reporting for the CI check scripts: `ok - ...` per check passed, a NOTICE for what
// was not checked and why, and a closing `NAME: N passed, N failed` line.
import { killAll } from "./Child.mjs"

let passed = 0

export const ok = (name) => {
  passed += 1
  console.log(`ok - ${name}`)
}

export const notice = (text) => console.log(`NOTICE: ${text}`)

export const fail = (message) => {
  throw new Error(message)
}

export const expect = (condition, message) => {
  if (!condition) fail(message)
}

/** Runs `body`; the first failure stops it with exit code 1. Kills any child left running. */
export const runChecks = async (name, body) => {
  try {
    await body()
    console.log(`${name}: ${passed} passed, 0 failed`)
  } catch (error) {
    console.error(`not ok - ${error instanceof Error ? error.message : String(error)}`)
    console.log(`${name}: ${passed} passed, 1 failed`)
    process.exitCode = 1
  } finally {
    killAll()
  }
}

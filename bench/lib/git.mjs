import { execFileSync } from "node:child_process"
import { repoRoot } from "./servers.mjs"

/** The commit under test: short hash, marked when src/ has uncommitted changes. */
export const commitLabel = () => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot }).toString().trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: repoRoot }).toString().trim()
    return dirty === "" ? head : `${head}+uncommitted src changes`
  } catch {
    return "unknown"
  }
}

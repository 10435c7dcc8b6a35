// The proxy as deployed: the one-file build of `npm run build`, run with plain node.
// Built once per bench run into a temporary directory (dist/ is left alone), or taken
// from BENCH_BUNDLE=file when given.
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

let built

/** The path of the one-file build, building it on first use. */
export const bundlePath = () => {
  if (process.env.BENCH_BUNDLE) return path.resolve(process.env.BENCH_BUNDLE)
  if (built !== undefined) return built.file
  const dir = mkdtempSync(path.join(os.tmpdir(), "socket-proxy-bench-"))
  const file = path.join(dir, "socket-proxy.mjs")
  try {
    execFileSync(process.execPath, ["scripts/build.mjs", "--outfile", file], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "inherit"]
    })
  } catch {
    // A build script without --outfile: build the way users do, into dist/.
    execFileSync("npm", ["run", "--silent", "build"], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] })
    rmSync(dir, { recursive: true, force: true })
    built = { file: path.join(repoRoot, "dist", "socket-proxy.mjs"), dir: undefined }
    return built.file
  }
  if (!existsSync(file)) throw new Error("the one-file build produced nothing")
  built = { file, dir }
  return file
}

/** Removes the temporary build, if this run made one. */
export const removeBundle = () => {
  if (built?.dir !== undefined) rmSync(built.dir, { recursive: true, force: true })
  built = undefined
}

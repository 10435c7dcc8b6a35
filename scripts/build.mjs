// `npm run build`: bundles the CLI and every runtime dependency into one ES module,
// dist/socket-proxy.mjs, that runs with plain `node` and no node_modules.
// `--outfile PATH` builds elsewhere (test/Build.test.ts builds into a temp dir).
import { build } from "esbuild"
import { chmod } from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const outfileFlag = process.argv.indexOf("--outfile")
const outfile = outfileFlag === -1 ? path.join(repoRoot, "dist", "socket-proxy.mjs") : process.argv[outfileFlag + 1]
if (outfile === undefined) throw new Error("--outfile needs a path")

await build({
  entryPoints: [path.join(repoRoot, "src", "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // Some bundled dependencies are CommonJS and `require` Node's built-in modules;
  // an ES module has no `require`, so give them one. (src/main.ts's own
  // `#!/usr/bin/env node` line is kept by esbuild as the file's first line.)
  banner: {
    js: "import { createRequire as __socketProxyCreateRequire } from \"node:module\"\n" +
      "const require = __socketProxyCreateRequire(import.meta.url)"
  },
  // Readable stack traces beat a smaller file for a long-running service.
  minify: false,
  legalComments: "none",
  logLevel: "warning"
})
await chmod(outfile, 0o755)
console.log(`built ${path.relative(process.cwd(), outfile)}`)

/**
 * The version `--version` prints, read from package.json so there is one copy to bump
 * (`npm version`). The one-file build inlines it (esbuild bundles JSON imports).
 */
import packageJson from "../package.json" with { type: "json" }

export const version: string = packageJson.version

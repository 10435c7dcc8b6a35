// Where a program is: the first executable `name` on PATH, else in the sbin
// directories Debian's packages use (haproxy is in /usr/sbin, which a non-root
// PATH often leaves out). Shared by the tests, the bench and the deploy checks.
import { accessSync, constants } from "node:fs"
import * as path from "node:path"

/** The program's path, or undefined when it is not installed. */
export const findProgram = (name) => {
  const directories = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/usr/bin"]
  for (const directory of directories.filter((d) => d !== "")) {
    const candidate = path.join(directory, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not there.
    }
  }
  return undefined
}

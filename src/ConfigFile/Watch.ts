import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * Every change in the directory of `file`, as an item of a queue, while the
 * scope is open. The directory, not the file: an editor's save (write a new
 * file, rename it over the old one) and a Kubernetes ConfigMap update (a
 * symlink swapped to a new directory) replace the file, and a watch on the file
 * itself would follow the old one. The caller debounces, and compares the file
 * to what it last read, since not every change in the directory is the file's.
 */
export const directoryChanges = (file: string): Effect.Effect<Queue.Dequeue<"changed">, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.sliding<"changed">(16), Queue.shutdown)
    const directory = path.dirname(path.resolve(file))
    yield* Effect.acquireRelease(
      Effect.try(() => {
        const watcher = fs.watch(directory, { persistent: false }, () => {
          Queue.unsafeOffer(queue, "changed")
        })
        // A watch that fails later (the directory removed) leaves SIGHUP to reload.
        watcher.on("error", () => watcher.close())
        return watcher
      }).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`cannot watch ${directory} for changes (${String(error.error)}); reload with SIGHUP`)
        ),
        Effect.option
      ),
      (watcher) => Effect.sync(() => watcher._tag === "Some" && watcher.value.close())
    )
    return queue
  })

/** What identifies the file's current contents without reading them: its target's inode, size and time. */
export const fileStamp = (file: string): Effect.Effect<string> =>
  Effect.sync(() => {
    try {
      const stat = fs.statSync(file)
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`
    } catch {
      return "missing"
    }
  })

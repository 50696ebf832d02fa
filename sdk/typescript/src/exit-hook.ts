/** Synchronous clean-up run when this process exits without having closed its networks. */

const hooks = new Set<() => void>();
let installed = false;

/** Runs `hook` at process exit unless the returned function is called first. */
export function atExit(hook: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once("exit", () => {
      for (const run of [...hooks]) {
        try {
          run();
        } catch {
          // Best effort: the process is exiting.
        }
      }
    });
  }
  hooks.add(hook);
  return () => hooks.delete(hook);
}

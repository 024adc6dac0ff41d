/**
 * Ctrl-C during training: the first SIGINT aborts through an AbortController (the model
 * stops after the current step and saves a checkpoint when it has a folder); a second one
 * ends the process at once by the signal itself (status 130 in a shell).
 */
export interface Interrupt {
  signal: AbortSignal;
  /** Removes the handler (the default SIGINT behaviour returns). */
  dispose(): void;
}

export function onInterrupt(firstMessage: () => string, write: (line: string) => void): Interrupt {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) {
      write('lemur: interrupted again: exiting now, without saving');
      // Die of the signal itself (status 130 in a shell): process.exit() would run LibTorch's
      // static destructors under a native task still in flight, which crashes.
      process.off('SIGINT', handler);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    write(firstMessage());
    controller.abort();
  };
  process.on('SIGINT', handler);
  return {
    signal: controller.signal,
    dispose: () => void process.off('SIGINT', handler),
  };
}

/**
 * Ctrl-C while writing a dataset: exit at once (status 130). The folder being built is a
 * temporary one, removed on exit (see buildFolderAtomically), so nothing partial is left.
 */
export function exitOnInterrupt(write: (line: string) => void, what: string): () => void {
  const handler = () => {
    write(`lemur: interrupted: ${what} not written`);
    process.exit(130);
  };
  process.once('SIGINT', handler);
  return () => void process.off('SIGINT', handler);
}

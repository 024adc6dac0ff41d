/**
 * Ctrl-C during training: the first SIGINT aborts through an AbortController (the model
 * stops after the current step and saves a checkpoint when it has a folder); a second one
 * exits at once with 130.
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
      write('lemur: interrupted again: exiting now');
      process.exit(130);
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

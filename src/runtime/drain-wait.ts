// What both backends do between marking a replica DRAINING and asking it to stop: wait until the
// caller says the requests it sent there are done, the drain time is over, or the replica ended
// by itself — whichever comes first. Returns the milliseconds left of the drain time.
export async function waitDrained(
  drained: Promise<void> | undefined,
  drainMs: number,
  exited: Promise<unknown>,
): Promise<number> {
  const startedMs = Date.now();
  if (drained) {
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)));
    await Promise.race([drained, over, exited]);
    clearTimeout(timer);
  }
  return Math.max(0, drainMs - (Date.now() - startedMs));
}

/**
 * An abort controller created only when someone reads its signal. Most handlers never look at `ctx.signal`, and an
 * AbortController costs more than the rest of a no-op job together, so the hot path pays for it only on demand.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private reason: Error | null = null;

  /** The signal; already aborted (with the reason) if `abort` ran before anyone asked. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.reason !== null;
  }

  /** Abort once; later calls keep the first reason. */
  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

import type { JobEvents } from './events.js';

/**
 * Routes cancellations to the jobs this process holds, from two sources: `JobQueue.cancel` in this process, and the
 * store's cancel notices (`JobStorage.subscribeCancels`), which also report cancels made here. Each cancellation that
 * reaches a held job is reported once per process: `JobQueue.cancel` emits `job:cancelled` itself, so a notice for a
 * cancel still under way here aborts the job without a second event.
 */
export class Cancellations {
  /** Cancels under way in this process (id → how many). */
  private readonly local = new Map<string, number>();

  constructor(
    /** Drop or abort the job if this process holds it; true when that changed something. */
    private readonly abort: (id: string) => boolean,
    private readonly events: JobEvents,
  ) {}

  /**
   * A cancel of `id` starts in this process. Call the returned function once the store answered: it aborts the job
   * here if the store cancelled it.
   */
  cancelling(id: string): (cancelled: boolean) => void {
    this.local.set(id, (this.local.get(id) ?? 0) + 1);
    let open = true;
    return (cancelled) => {
      if (!open) return;
      open = false;
      const left = this.local.get(id)! - 1;
      if (left > 0) this.local.set(id, left);
      else this.local.delete(id);
      if (cancelled) this.abort(id);
    };
  }

  /** The store says `id` was cancelled (here or elsewhere): drop or abort it, and say so unless a local cancel will. */
  notice(id: string): void {
    if (this.abort(id) && !this.local.has(id)) this.events.emit('job:cancelled', { jobId: id });
  }
}

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** The state of a polled read. */
export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Fetch again now (after an action). */
  reload: () => void;
  /**
   * Stop polling and ignore any answer still on its way, until the returned function is called: around an action
   * that removes what is polled (a deleted job), so the page does not ask for it once it is gone, and polls again if
   * the action fails.
   */
  hold: () => () => void;
}

/**
 * Load `fetcher` now and every `intervalMs` while the tab is visible: polling stops while `document.hidden` and
 * resumes, with a fetch at once, when the tab shows again. `deps` restart it (a new filter).
 */
export function usePoll<T>(fetcher: () => Promise<T>, intervalMs: number, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const latest = useRef(fetcher);
  latest.current = fetcher;
  const generation = useRef(0);
  const stopped = useRef(false);
  const timer = useRef<ReturnType<typeof setInterval> | undefined>(undefined);

  const load = useCallback(() => {
    if (stopped.current) return;
    const mine = ++generation.current;
    latest.current().then(
      (value) => mine === generation.current && (setData(value), setError(undefined)),
      (err: Error) => mine === generation.current && setError(err),
    );
  }, []);

  const restart = useRef(() => {});

  const hold = useCallback(() => {
    stopped.current = true;
    clearInterval(timer.current);
    generation.current++;
    return () => {
      stopped.current = false;
      if (!document.hidden) restart.current();
    };
  }, []);

  useEffect(() => {
    setData(undefined);
    stopped.current = false;
    const start = () => {
      clearInterval(timer.current);
      if (stopped.current) return;
      load();
      timer.current = setInterval(load, intervalMs);
    };
    restart.current = start;
    const pause = () => clearInterval(timer.current);
    const onVisibility = () => (document.hidden ? pause() : start());
    if (!document.hidden) start();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      pause();
      generation.current++;
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [intervalMs, ...deps]);

  return { data, error, reload: load, hold };
}

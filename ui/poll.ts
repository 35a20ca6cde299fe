import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** The state of a polled read. */
export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Fetch again now (after an action). */
  reload: () => void;
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

  const load = useCallback(() => {
    const mine = ++generation.current;
    latest.current().then(
      (value) => mine === generation.current && (setData(value), setError(undefined)),
      (err: Error) => mine === generation.current && setError(err),
    );
  }, []);

  useEffect(() => {
    setData(undefined);
    let timer: ReturnType<typeof setInterval> | undefined;
    const start = () => {
      load();
      timer = setInterval(load, intervalMs);
    };
    const stop = () => clearInterval(timer);
    const onVisibility = () => (document.hidden ? stop() : start());
    if (!document.hidden) start();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      stop();
      generation.current++;
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [intervalMs, ...deps]);

  return { data, error, reload: load };
}

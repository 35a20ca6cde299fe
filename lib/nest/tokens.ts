/** Injection token of the {@link UnoJobs} engine instance. */
export const UNO_JOBS = Symbol('UNO_JOBS');

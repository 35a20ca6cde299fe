import { sqlCrashSuite } from '../support/sql-crash.js';

// A worker process SIGKILLed mid-run, four processes on one SQLite file: every job completes, and only jobs in
// flight on the killed worker run twice (test/support/sql-crash.ts).
sqlCrashSuite('sqlite');

import { sqlCrashSuite } from '../support/sql-crash.js';

// A worker process SIGKILLed mid-run on MariaDB: every job completes, and only jobs in flight on the killed worker
// run twice (test/support/sql-crash.ts; PostgreSQL: postgres-crash.spec.ts).
sqlCrashSuite('mariadb');

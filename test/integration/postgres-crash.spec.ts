import { sqlCrashSuite } from '../support/sql-crash.js';

// A worker process SIGKILLed mid-run on PostgreSQL: every job completes, and only jobs in flight on the killed worker
// run twice (test/support/sql-crash.ts; MariaDB: mariadb-crash.spec.ts).
sqlCrashSuite('postgres');

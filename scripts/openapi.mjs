// Write docs/openapi.json from the admin route table (run after a build: `npm run openapi`).
// test/e2e/admin-api.spec.ts checks that the file is up to date and lists every route of the router.
import { readFileSync, writeFileSync } from 'node:fs';
import { buildOpenApi } from '../dist/nest-admin/routes.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
writeFileSync(new URL('../docs/openapi.json', import.meta.url), `${JSON.stringify(buildOpenApi('jobs-admin', version), null, 2)}\n`);

import type { UnoJobsModuleOptions } from '../lib/index.js';

/**
 * Picks the sample's store from UNO_STORAGE: `memory` (default here, no server needed), or a server backend
 * once configured (see README).
 */
export function sampleStorage(): UnoJobsModuleOptions['storage'] {
  const kind = process.env.UNO_STORAGE ?? 'memory';
  switch (kind) {
    case 'memory':
      return { type: 'memory' };
    default:
      throw new Error(`UNO_STORAGE=${kind} is not supported by the sample. Use one of: memory.`);
  }
}

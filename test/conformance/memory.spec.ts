import { describe, it, beforeEach, afterEach } from '@jest/globals';
import { MemoryJobStorage } from '../../lib/index.js';
import { describeJobStorage } from '../../lib/testing/index.js';

describeJobStorage('memory', () => new MemoryJobStorage(), { describe, it, beforeEach, afterEach }, { monitoring: true });

// Side effect only: import this first in an entry point (`import './load-env.js'`) to load ./.env before
// anything else reads process.env. See env-file.ts.
import { loadEnvFile } from './env-file.js';

try {
  loadEnvFile();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}

#!/usr/bin/env node
// `npx positivity …`: the operator CLI (src/local/cli-main.ts), run through tsx so it needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli-main.ts');

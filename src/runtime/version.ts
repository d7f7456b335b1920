import { readFileSync } from 'node:fs';

/** The package version (semver), reported by service discovery. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

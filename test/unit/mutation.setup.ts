import fc from 'fast-check';

/**
 * Setup of the mutation runs only (vitest.mutation.config.ts): property tests use a fixed seed, so
 * that a mutant is killed or survives the same way on every run (and in incremental runs), and stop
 * at the first counterexample without shrinking it (a mutant only needs one failure; shrinking a
 * brute-force property costs seconds per killed mutant).
 */
fc.configureGlobal({ seed: 20_261_127, endOnFailure: true });

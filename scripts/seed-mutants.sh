#!/usr/bin/env bash
# Seed mutants: reintroduces each of the five findings of seed/scheduler-core-review.md in turn, in a
# COPY of the repository, and runs the tests that must catch it. Prints a table (finding, tests that
# failed, caught yes/no) and exits non-zero when a mutant is not caught or a patch does not apply.
#
#   scripts/seed-mutants.sh [--no-baseline] [--keep] [N ...]     (N: 1..5, default all)
#
# The working tree is never touched: the repository is copied (rsync, without .git and
# node_modules; node_modules entries are symlinked) to a temporary directory, each patch of
# scripts/seed-mutants/ is applied to a fresh copy of that snapshot, and the test files listed
# below run there (unit tests and the integration tests, which start their own nats-server).
#
# A mutant counts as caught when at least one test that passed on the unmodified snapshot (the
# baseline run, same files) fails with the mutant. --no-baseline skips that run and counts any
# failing test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATCHES="$ROOT/scripts/seed-mutants"

# finding number -> patch file, description, test files to run
declare -A PATCH DESC FILES
PATCH[1]=1-overlap-result-string.patch
DESC[1]='1 overlap released only by a result string'
FILES[1]='test/unit test/integration/seed-findings.test.ts'
PATCH[2]=2-stale-next-run.patch
DESC[2]='2 next run from a stale timestamp'
FILES[2]='test/unit test/integration/durability.test.ts'
PATCH[3]=3-inputs-dropped.patch
DESC[3]='3 workflow inputs dropped'
FILES[3]='test/unit test/integration/seed-findings.test.ts test/integration/dispatch.test.ts'
PATCH[4]=4-cross-orchestrator-lookup.patch
DESC[4]='4 job lookup across orchestrators'
FILES[4]='test/unit test/integration/seed-findings.test.ts test/integration/commands.test.ts'
PATCH[5]=5-job-paused-not-published.patch
DESC[5]='5 lifecycle event not published'
FILES[5]='test/unit test/integration/seed-findings.test.ts'

baseline=1
keep=0
only=()
for a in "$@"; do
  case "$a" in
    --no-baseline) baseline=0 ;;
    --keep) keep=1 ;;
    [1-5]) only+=("$a") ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
[ ${#only[@]} -eq 0 ] && only=(1 2 3 4 5)

TMP="$(mktemp -d "${TMPDIR:-/tmp}/seed-mutants.XXXXXX")"
cleanup() { if [ "$keep" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

echo "snapshot of $ROOT -> $TMP/snapshot"
rsync -a --exclude node_modules --exclude .git --exclude reports --exclude .stryker-tmp \
  --exclude .vitest --exclude .data --exclude dist --exclude coverage "$ROOT/" "$TMP/snapshot/"

# A fresh copy of the snapshot with a node_modules of symlinks (so that caches written under
# node_modules/.vite stay in the copy).
fresh_copy() {
  local dir="$1"
  rm -rf "$dir"
  rsync -a "$TMP/snapshot/" "$dir/"
  mkdir "$dir/node_modules"
  local e
  for e in "$ROOT"/node_modules/* "$ROOT"/node_modules/.bin "$ROOT"/node_modules/.package-lock.json; do
    [ -e "$e" ] && ln -s "$e" "$dir/node_modules/$(basename "$e")"
  done
  # The project's vitest config with only a json reporter into $SEED_REPORT (in the copy only).
  cat >"$dir/vitest.seed-mutants.config.ts" <<'TS'
import base from './vitest.config.ts';
export default { ...base, test: { ...base.test, reporters: [['json', { outputFile: process.env.SEED_REPORT }]] } };
TS
}

# run_tests DIR OUT.json FILES... : vitest with the json reporter; never fails the script.
run_tests() {
  local dir="$1" out="$2"
  shift 2
  (cd "$dir" && SEED_REPORT="$out" npx vitest run --config vitest.seed-mutants.config.ts "$@" >"$out.log" 2>&1) || true
  if [ ! -s "$out" ]; then
    echo "vitest produced no report; see $out.log" >&2
    tail -20 "$out.log" >&2
    return 1
  fi
}

# Lists "status<TAB>file > test name" for every test of a json report.
results() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const root = process.argv[2] + "/";
    for (const f of r.testResults) {
      const file = f.name.startsWith(root) ? f.name.slice(root.length) : f.name;
      if (f.assertionResults.length === 0 && f.status === "failed") console.log(`failed\t${file} > (file failed to run)`);
      for (const t of f.assertionResults) console.log(`${t.status}\t${file} > ${t.fullName}`);
    }' "$1" "$2"
}

all_files() {
  local n
  for n in "${only[@]}"; do printf '%s\n' ${FILES[$n]}; done | sort -u
}

if [ "$baseline" = 1 ]; then
  echo "baseline: unmodified snapshot"
  fresh_copy "$TMP/work"
  mapfile -t bfiles < <(all_files)
  run_tests "$TMP/work" "$TMP/baseline.json" "${bfiles[@]}"
  results "$TMP/baseline.json" "$TMP/work" >"$TMP/baseline.txt"
  bfail=$(grep -c '^failed' "$TMP/baseline.txt" || true)
  echo "baseline: $(grep -c '^passed' "$TMP/baseline.txt" || true) passed, $bfail failed"
  if [ "$bfail" != 0 ]; then
    echo "baseline failures (ignored when judging the mutants):"
    grep '^failed' "$TMP/baseline.txt" | cut -f2- | sed 's/^/  /'
  fi
fi

declare -A CAUGHT FAILED
status=0
for n in "${only[@]}"; do
  echo
  echo "=== mutant ${DESC[$n]} (${PATCH[$n]})"
  fresh_copy "$TMP/work"
  if ! (cd "$TMP/work" && patch -p1 --forward --batch --no-backup-if-mismatch --reject-file=- <"$PATCHES/${PATCH[$n]}" >"$TMP/patch-$n.log" 2>&1); then
    cat "$TMP/patch-$n.log"
    echo "patch ${PATCH[$n]} does not apply: update it to the current source"
    CAUGHT[$n]='PATCH FAILED'
    FAILED[$n]='-'
    status=1
    continue
  fi
  # shellcheck disable=SC2086
  if ! run_tests "$TMP/work" "$TMP/mutant-$n.json" ${FILES[$n]}; then
    CAUGHT[$n]='ERROR'
    FAILED[$n]='-'
    status=1
    continue
  fi
  results "$TMP/mutant-$n.json" "$TMP/work" >"$TMP/mutant-$n.txt"
  if [ "$baseline" = 1 ]; then
    # failing now, and passing in the baseline
    grep '^failed' "$TMP/mutant-$n.txt" | cut -f2- | grep -Fxf <(grep '^passed' "$TMP/baseline.txt" | cut -f2-) >"$TMP/killers-$n.txt" || true
    # a test file that does not run at all with the mutant (e.g. does not compile) also catches it
    grep '(file failed to run)$' <(grep '^failed' "$TMP/mutant-$n.txt" | cut -f2-) >>"$TMP/killers-$n.txt" || true
  else
    grep '^failed' "$TMP/mutant-$n.txt" | cut -f2- >"$TMP/killers-$n.txt" || true
  fi
  k=$(wc -l <"$TMP/killers-$n.txt")
  if [ "$k" -gt 0 ]; then
    CAUGHT[$n]=yes
    sed 's/^/  failed: /' "$TMP/killers-$n.txt"
  else
    CAUGHT[$n]=no
    status=1
    echo "  no test failed"
  fi
  FAILED[$n]="$k"
done

echo
echo "Seed mutants (scripts/seed-mutants/*.patch)"
printf '%-46s | %-6s | %s\n' 'finding' 'caught' 'tests failed'
printf '%-46s-+-%-6s-+-%s\n' "$(printf '%.0s-' {1..46})" '------' '------------------------------------------------------------'
for n in "${only[@]}"; do
  first=1
  if [ -s "$TMP/killers-$n.txt" ]; then
    while IFS= read -r t; do
      if [ $first = 1 ]; then
        printf '%-46s | %-6s | %s\n' "${DESC[$n]}" "${CAUGHT[$n]}" "$t"
        first=0
      else
        printf '%-46s | %-6s | %s\n' '' '' "$t"
      fi
    done <"$TMP/killers-$n.txt"
  else
    printf '%-46s | %-6s | %s\n' "${DESC[$n]}" "${CAUGHT[$n]}" '(none)'
  fi
done
if [ $status = 0 ]; then echo "all ${#only[@]} seed mutants caught"; else echo "NOT ALL SEED MUTANTS CAUGHT"; fi
exit $status

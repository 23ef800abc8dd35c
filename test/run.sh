#!/usr/bin/env bash
# The one test command (npm test): installs what the tests need, checks that
# imports run one way (test/check-layers.ts), builds, then
# runs every tier with Node's runner. `npm test -- unit` runs one tier
# (unit | component | integration | e2e); KEEPVIP_TEST_FILES overrides the file list.
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=("${@:-unit component integration e2e}")
tiers=(${tiers[*]})

bash deploy/ensure-deps.sh
npm run --silent check:layers
npm run --silent lint
npm run --silent build

files=()
for tier in "${tiers[@]}"; do
  [ -d "test/$tier" ] || { echo "test/run.sh: no tier '$tier' (unit, component, integration, e2e)" >&2; exit 2; }
  while IFS= read -r f; do files+=("$f"); done < <(find "test/$tier" -name '*.test.ts' | sort)
done
if [ -n "${KEEPVIP_TEST_FILES:-}" ]; then read -r -a files <<<"$KEEPVIP_TEST_FILES"; fi
[ ${#files[@]} -gt 0 ] || { echo "test/run.sh: no test files found for: ${tiers[*]}" >&2; exit 2; }

export KEEPVIP_LOG_LEVEL=${KEEPVIP_LOG_LEVEL:-silent}
# Node 20: a directory or a quoted glob runs 0 tests under tsx; list the files.
# Files run one at a time: the e2e tier shares namespaces and the 2 cores.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

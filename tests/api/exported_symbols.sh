#!/usr/bin/env bash
# Checks libcloudhost.so's dynamic symbol table: the public API (marked
# CLOUDHOST_API) is exported, and nothing internal is: no cloudhost::detail
# symbol, no symbol of the library's areas' private classes, and no
# internal-header function. Usage: exported_symbols.sh LIBCLOUDHOST_SO
set -euo pipefail
lib=${1:?usage: exported_symbols.sh LIBCLOUDHOST_SO}
symbols=$(nm -D --defined-only "$lib" | c++filt)
[ -n "$symbols" ] || { echo "FAIL: $lib exports no symbols" >&2; exit 1; }
fail=0

# Internal names: the detail namespace, and classes and functions of the
# internal headers and the areas' own headers (a sample of each area).
forbidden=(
  'detail::'
  '::State::'
  '::Pool::'
  'cloudhost::internal::'
  'cloudhost::isolation::'
  'cloudhost::DriverWatcher'
  'cloudhost::inspect_driver_elf'
  'cloudhost::read_driver_metadata'
  'cloudhost::write_drivers_'
  'cloudhost::append_log_field'
)
for pattern in "${forbidden[@]}"; do
  if found=$(grep -F -- "$pattern" <<<"$symbols"); then
    echo "FAIL: internal symbols exported (matching '$pattern'):" >&2
    head -5 <<<"$found" >&2
    fail=1
  fi
done

# Key entry points a dispatcher links against (what the umbrella header's
# example in tests/out-of-tree uses, and the exception types it catches).
required=(
  'cloudhost::Catalog::Catalog(cloudhost::CatalogOptions)'
  'cloudhost::Catalog::load('
  'cloudhost::InstanceSet::open('
  'cloudhost::InstanceSet::create('
  'cloudhost::InstanceSet::instances('
  'cloudhost::Instance::destroy()'
  'cloudhost::Instance::set_tags('
  'cloudhost::HotSwappableInstanceSet::'
  'cloudhost::SshExecutor::'
  'cloudhost::TagVerifier::'
  'cloudhost::load_config('
  'cloudhost::run_cloudtest('
  'cloudhost::validate_tags('
  'cloudhost::VersionConstraint::'
  'cloudhost::default_metrics_registry()'
  'typeinfo for cloudhost::DriverError'
  'typeinfo for cloudhost::RateLimitError'
  'typeinfo for cloudhost::LoadError'
  'typeinfo for cloudhost::ConfigError'
)
for pattern in "${required[@]}"; do
  if ! grep -qF -- "$pattern" <<<"$symbols"; then
    echo "FAIL: public API symbol not exported: $pattern" >&2
    fail=1
  fi
done

count=$(grep -c 'cloudhost::' <<<"$symbols" || true)
if [ "$fail" = 0 ]; then
  echo "ok: $count cloudhost symbols exported, none internal; ${#required[@]} key API symbols present"
fi
exit "$fail"

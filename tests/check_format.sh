#!/usr/bin/env bash
# The tree stays clang-formatted (.clang-format at the top). Lists the files
# that are not, and fails if there are any.
set -u
cd "${CLOUDHOST_SOURCE_ROOT:?}" || exit 1
unformatted=()
while IFS= read -r file; do
  clang-format --dry-run -Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp')
if ((${#unformatted[@]})); then
  printf 'not clang-formatted: %s\n' "${unformatted[@]}"
  exit 1
fi
echo "all files clang-formatted"

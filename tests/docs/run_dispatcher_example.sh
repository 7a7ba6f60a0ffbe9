#!/usr/bin/env bash
# Runs the README's dispatcher example in a temp state dir; it must print the
# command's output and leave no instance behind.
set -euo pipefail
example=$1 driver_dir=$2
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
out=$("$example" "$driver_dir" "$state/loopback")
echo "$out"
grep -q "^lo-[0-9a-f]*: hello from $(hostname)$" <<<"$out"
[ -z "$(ls -A "$state/loopback" | grep -v '^\.')" ]

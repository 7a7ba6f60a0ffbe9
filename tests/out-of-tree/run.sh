#!/usr/bin/env bash
# The vendor's and the operator's view of cloudhost, end to end:
#  1. configure a second, fresh build of this source tree with a temporary
#     --prefix, install it, and delete that build (nothing may point back);
#  2. with nothing but the installed pkg-config files, build the C example
#     driver (plugins/example/example.c) with `cc` and the C++ SDK example
#     (docs/examples/filecloud_driver.cpp) with `c++`, outside the tree;
#  3. the installed CLI lists both as ok, and answers create/list/tag/destroy
#     through filecloud (its instances are files, so separate runs see them);
#  4. a dispatcher built with `pkg-config --cflags --libs cloudhost` drives a
#     whole instance life through each out-of-tree driver in one process
#     (the C example's cloud lives in memory);
#  5. the out-of-tree C example, given the installed cloudhost-loopback-server
#     as its "server_program", runs each instance as a real SSH server and
#     passes `cloudtest --conformance` (typed error included) through the
#     host's tag verifier (its VerifyHostKey answers NOT_IMPLEMENTED);
#     `create --wait` boots one too;
#  6. the out-of-tree C++ SDK example (filecloud), given the same
#     "server_program", runs each instance as a real SSH server too and passes
#     `cloudtest --conformance` through the tag verifier (typed error skipped:
#     it has no fault knob); `create --wait` boots one too;
#  7. the installed CLI, with no flag and no config, finds the installed
#     loopback driver and server and passes `cloudtest`;
#  8. a copy of the loopback driver's sources, built outside the tree with the
#     installed SDK (plus RapidJSON and libssh), passes `cloudtest` and
#     `cloudtest --conformance` too: a bigger C++ SDK driver, with its own
#     dependencies, built out of tree.
# After every cloudtest, and at the end, no process of this run's installed
# cloudhost-loopback-server may be left.
# Usage: run.sh SOURCE_ROOT
set -euo pipefail

source_root=$(cd "${1:?usage: run.sh SOURCE_ROOT}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cloudhost-out-of-tree.XXXXXX")
prefix=$work/prefix
vendor=$work/vendor # the vendor's checkout: copies only, no path into the tree
cli=$prefix/bin/cloudhost
server_program=$prefix/libexec/cloudhost/cloudhost-loopback-server # under $work: this run's only

# Only what a user of the installed layout has: no hint at any build tree.
unset CLOUDHOST_DRIVER_PATH CLOUDHOST_LOOPBACK_SERVER CLOUDHOST_BUILD_ROOT CLOUDHOST_SOURCE_ROOT
export HOME=$work/home XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache
mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$vendor/drivers"

# Reads a `cloudtest --conformance --json` report on stdin; fails unless the
# run passed with every step ok and only the steps named in $1 (comma
# separated, may be empty) skipped.
#   usage: ... | conformance_passed "typed error" || fail ...
conformance_passed() {
    python3 -c '
import json, sys
allowed = set(filter(None, sys.argv[1].split(",")))
report = json.load(sys.stdin)
bad = [s["name"] + ": " + s["detail"] for s in report["steps"]
       if not s["ok"] or s["skipped"] != (s["name"] in allowed)]
names = [s["name"] for s in report["steps"]]
for wanted in ("instance set filter", "listed by a new instance set", "destroy again"):
    if wanted not in names:
        bad.append("no step " + wanted)
if not report["ok"] or bad:
    sys.exit("cloudtest --conformance did not pass: " + "; ".join(bad))
' "$1"
}

# The ids in a `list --json` answer ({"instances": [{"id": ...}, ...]}).
instance_ids() {
    python3 -c 'import json, sys; print(" ".join(i["id"] for i in json.load(sys.stdin)["instances"]))'
}

# Pids of running processes of this run's installed server (instances and
# their connections).
surviving_servers() {
    python3 - "$server_program" <<'PY'
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except OSError:
        continue
    if argv0 == sys.argv[1].encode():
        print(pid)
PY
}

cleanup() {
    # Loopback instances are processes: destroy any a failed cloudtest left,
    # then stop whatever of this run's servers is still there.
    if [ -x "$cli" ]; then
        for id in $("$cli" list --json 2>/dev/null | instance_ids); do
            "$cli" destroy "$id" >/dev/null 2>&1 || true
        done
    fi
    for pid in $(surviving_servers); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "out-of-tree: FAIL: $*" >&2
    exit 1
}
step() { echo "out-of-tree: $*"; }

# Destroy waits for the server, so none may be left once a run has ended.
expect_no_servers() {
    local left
    left=$(surviving_servers | tr '\n' ' ')
    [ -z "$left" ] || fail "$1 left server processes running: $left"
}

# ---- 1. install into a temporary prefix ------------------------------------
step "meson setup + install into $prefix"
if ! meson setup "$work/build" "$source_root" --prefix="$prefix" --buildtype=plain --wrap-mode=nodownload \
    -Dtests=false -Dbench=false -Dfuzz=false >"$work/setup.log" 2>&1; then
    cat "$work/setup.log" >&2
    fail "meson setup of a second build"
fi
if ! ninja -C "$work/build" install >"$work/install.log" 2>&1; then
    tail -n 60 "$work/install.log" >&2
    fail "ninja install"
fi
rm -rf "$work/build"

pc_file=$(find "$prefix" -name cloudhost-driver.pc -print -quit)
[ -n "$pc_file" ] || fail "no cloudhost-driver.pc under $prefix"
libdir=$(dirname "$(dirname "$pc_file")")
for installed in bin/cloudhost include/cloudhost/driver.h include/cloudhost/driver_sdk.hpp \
    include/cloudhost/instance_set.hpp share/cloudhost/driver-exports.map \
    libexec/cloudhost/cloudhost-loopback-server etc/cloudhost/drivers.d; do
    [ -e "$prefix/$installed" ] || fail "not installed: $prefix/$installed"
done
# Only public headers are installed: every file of host/include/cloudhost,
# and nothing that is neither there nor in plugin-api/include/cloudhost.
installed_headers=$(cd "$prefix/include/cloudhost" && find . -type f | sort)
host_public=$(cd "$source_root/host/include/cloudhost" && find . -type f | sort)
all_public=$({ echo "$host_public"; (cd "$source_root/plugin-api/include/cloudhost" && find . -type f); } | sort)
missing=$(comm -23 <(echo "$host_public") <(echo "$installed_headers"))
[ -z "$missing" ] || fail "public headers not installed: $missing"
extra=$(comm -13 <(echo "$all_public") <(echo "$installed_headers"))
[ -z "$extra" ] || fail "headers installed that are not public: $extra"
[ -e "$prefix/include/cloudhost/cloudhost.hpp" ] || fail "umbrella header cloudhost/cloudhost.hpp not installed"
for internal in internal logging.hpp driver_watcher.hpp elf_metadata.hpp drivers_report.hpp; do
    [ ! -e "$prefix/include/cloudhost/$internal" ] || fail "internal header installed: include/cloudhost/$internal"
done
for installed in libcloudhost.so pkgconfig/cloudhost.pc cloudhost/drivers/loopback.so \
    cloudhost/drivers/example.so cloudhost/drivers/stub.so; do
    [ -e "$libdir/$installed" ] || fail "not installed: $libdir/$installed"
done
# The installed CLI links libcloudhost's code statically (it uses internals);
# the dispatcher built below gets no RUNPATH, so it is told where the library is (step 4).

# ---- 2. build the drivers out of tree ---------------------------------------
cp "$source_root/plugins/example/example.c" "$source_root/docs/examples/filecloud_driver.cpp" \
    "$source_root/docs/examples/dispatcher.cpp" "$vendor/"
cd "$vendor"
export PKG_CONFIG_PATH=$libdir/pkgconfig
step "cloudhost-driver $(pkg-config --modversion cloudhost-driver) from $PKG_CONFIG_PATH"

# [guide:build-c]
cc -std=c99 -pedantic -Wall -Wextra -Werror -O2 -fPIC -shared \
    $(pkg-config --cflags cloudhost-driver) \
    $(pkg-config --variable=driver_cflags cloudhost-driver) \
    -Wl,--version-script="$(pkg-config --variable=exports_map cloudhost-driver)" \
    -o drivers/example.so example.c -pthread
# [/guide:build-c]

# [guide:build-cpp]
gxx_flags=""
if c++ --version | grep -q 'Free Software Foundation'; then # g++, not clang++
    gxx_flags=$(pkg-config --variable=driver_gxx_cxxflags cloudhost-driver)
fi
c++ -std=c++20 -Wall -Wextra -Werror -O2 -fPIC -shared \
    $(pkg-config --cflags cloudhost-driver) \
    $(pkg-config --variable=driver_cxxflags cloudhost-driver) $gxx_flags \
    -Wl,--version-script="$(pkg-config --variable=exports_map cloudhost-driver)" \
    -o drivers/filecloud.so filecloud_driver.cpp
# [/guide:build-cpp]

for so in drivers/example.so drivers/filecloud.so; do
    exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
    [ "$exported" = "cloudhost_driver_entry cloudhost_driver_info " ] ||
        fail "$so exports more than the two driver symbols: $exported"
done

# ---- 3. the installed CLI and the out-of-tree drivers -----------------------
drivers_json=$("$cli" drivers --json --driver-dir "$vendor/drivers")
for name in example filecloud; do
    echo "$drivers_json" | python3 -c '
import json, sys
name, report = sys.argv[1], json.load(sys.stdin)
ok = [d for d in report["drivers"] if d["name"] == name and d["status"] == "ok" and d["active"]]
sys.exit(0 if ok else "driver %s not listed as ok and active in: %s" % (name, report))
' "$name" || fail "drivers --json"
done
step "drivers --json: example and filecloud ok"

cat >"$work/filecloud.json" <<EOF
{"driver": "filecloud", "driver_dirs": ["$vendor/drivers"],
 "driver_parameters": {"dir": "$work/filecloud-instances"},
 "instance_types": {"small": {"provider_type": "s1", "vcpus": 1, "ram": "1GiB", "price": 0.01}}}
EOF
fc=(--config "$work/filecloud.json")
created=$("$cli" "${fc[@]}" create --type small --tag role=worker --json)
id=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# One directory per InstanceSetID (the default one here).
instance_file=$work/filecloud-instances/zzzzz-zzzzz-zzzzzzcloudhost/$id
[ -f "$instance_file" ] || fail "filecloud create: no file for $id"
[ "$("$cli" "${fc[@]}" list --tag role=worker --json | instance_ids)" = "$id" ] ||
    fail "list --tag role=worker does not show exactly $id"
"$cli" "${fc[@]}" tag "$id" role=retired >/dev/null
[ -z "$("$cli" "${fc[@]}" list --tag role=worker --json | instance_ids)" ] ||
    fail "tag did not replace role=worker"
[ "$("$cli" "${fc[@]}" list --tag role=retired --json | instance_ids)" = "$id" ] ||
    fail "list --tag role=retired does not show $id"
"$cli" "${fc[@]}" destroy "$id" >/dev/null
[ ! -e "$instance_file" ] || fail "destroy left $id"
[ -z "$("$cli" "${fc[@]}" list --json | instance_ids)" ] || fail "list shows instances after destroy"
step "CLI create/list/tag/destroy through out-of-tree filecloud ok ($id)"

cat >"$work/example.json" <<EOF
{"driver": "example", "driver_dirs": ["$vendor/drivers"],
 "instance_types": {"small": {"provider_type": "s1", "vcpus": 1, "ram": "1GiB", "price": 0.01}}}
EOF
"$cli" --config "$work/example.json" create --type small --json | grep -q '"id"' ||
    fail "create through out-of-tree example"
step "CLI create through out-of-tree example ok"

# ---- 4. a dispatcher built against the installed libcloudhost ---------------
# [guide:build-dispatcher]
c++ -std=c++20 -Wall -Wextra -Werror -O2 -o dispatcher dispatcher.cpp \
    $(pkg-config --cflags --libs cloudhost)
# [/guide:build-dispatcher]
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
./dispatcher "$vendor/drivers" example '{}' "$work/cache/dispatcher"
./dispatcher "$vendor/drivers" filecloud "{\"dir\": \"$work/dispatcher-instances\"}" \
    "$work/cache/dispatcher"

# ---- 5./6. cloudtest --conformance on the out-of-tree C and C++ SDK examples --
# Their instances are real servers (the installed cloudhost-loopback-server);
# the host proves identity with the tag verifier. The examples keep their
# cloud in the library's memory, so the CLI's exit stops every server it made;
# and they run in process ("isolation": "none"): an isolated set has a helper
# process of its own, and a cloud in one process's memory is not shared with
# the kit's other sets (tests/cloudtest/conformance_test.cpp says the same).
#   usage: cloudtest_server_example LABEL DRIVER ID MACHINES PARAMETERS_JSON
#          FAULT_PARAMETERS_JSON|"" SKIPPED_STEPS
cloudtest_server_example() {
    local label=$1 driver=$2 id=$3 machines=$4 parameters=$5 fault=$6 skipped=$7 address
    cat >"$work/$driver-servers.json" <<EOF
{"driver": "$driver", "driver_dirs": ["$vendor/drivers"], "isolation": "none",
 "driver_parameters": $parameters,
 "instance_set_id": "$id",
 "instance_secret_path": "instance-secret",
 "instance_types": {"small": {"provider_type": "s1", "vcpus": 1, "ram": "1GiB", "price": 0.01}},
 "timeouts": {"boot": "60s", "probe_interval": "100ms", "sync_interval": "100ms"}}
EOF
    local config=(--config "$work/$driver-servers.json") fault_flags=()
    if [ -n "$fault" ]; then
        echo "{\"driver_parameters\": $fault, \"expect\": \"quota\"}" >"$work/$driver-fault.json"
        fault_flags=(--fault-config "$work/$driver-fault.json")
    fi
    step "cloudtest --conformance (installed CLI, out-of-tree $label with server machines, tag verifier)"
    "$cli" "${config[@]}" cloudtest --conformance --settle 10s "${fault_flags[@]}" --json \
        --command 'test "$(wc -c <instance-secret)" -eq 40' >"$work/$driver-conformance.json" ||
        fail "cloudtest --conformance on the out-of-tree $label: $(cat "$work/$driver-conformance.json")"
    conformance_passed "$skipped" <"$work/$driver-conformance.json" ||
        fail "cloudtest --conformance on the out-of-tree $label"
    expect_no_servers "cloudtest --conformance on the $label"
    address=$("$cli" "${config[@]}" create --wait --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
    case $address in 127.0.0.1:*) ;; *) fail "create --wait through the $label: address '$address'" ;; esac
    expect_no_servers "create --wait through the $label"
    [ -z "$(ls -A "$machines")" ] || fail "the $label left machine directories: $(ls -A "$machines")"
    step "$label: cloudtest and create --wait ok, no server or directory left"
}

machines=$work/example-machines
mkdir -p "$machines"
example_parameters="\"server_program\": \"$server_program\", \"state_dir\": \"$machines\""
cloudtest_server_example "C example" example zzzzz-zzzzz-outoftreexample "$machines" \
    "{$example_parameters}" "{$example_parameters, \"max_instances\": 1}" ""
filecloud_machines=$work/filecloud-machines
cloudtest_server_example "C++ SDK example (filecloud)" filecloud zzzzz-zzzzz-filecloudserver \
    "$filecloud_machines" \
    "{\"dir\": \"$filecloud_machines\", \"server_program\": \"$server_program\"}" "" "typed error"

# ---- 7. cloudtest on the installed layout, no flags -------------------------
"$cli" drivers --json | grep -q '"name":"loopback"' || fail "installed CLI does not find installed loopback"
step "cloudtest (installed CLI, installed loopback driver and server, no flags)"
"$cli" cloudtest || fail "cloudtest on the installed loopback driver"
[ -z "$("$cli" list --json | instance_ids)" ] || fail "cloudtest left instances"
expect_no_servers "cloudtest on the installed loopback driver"

# ---- 8. cloudtest on an out-of-tree C++ SDK build of the loopback driver ----
mkdir -p "$vendor/loopback/drivers"
cp -r "$source_root/plugins/loopback/driver" "$source_root/plugins/loopback/common" \
    "$vendor/loopback/"
cd "$vendor/loopback"
c++ -std=c++20 -Wall -Wextra -Werror -O2 -fPIC -shared \
    $(pkg-config --cflags cloudhost-driver RapidJSON libssh) \
    $(pkg-config --variable=driver_cxxflags cloudhost-driver) $gxx_flags \
    -Icommon -DCLOUDHOST_LOOPBACK_SERVER_INSTALLED="\"$prefix/libexec/cloudhost/cloudhost-loopback-server\"" \
    -DCLOUDHOST_LOOPBACK_SERVER_BUILT="\"\"" \
    -Wl,--version-script="$(pkg-config --variable=exports_map cloudhost-driver)" \
    -o drivers/loopback.so driver/*.cpp common/*.cpp $(pkg-config --libs libssh) -pthread
cat >"$work/vendor-loopback.json" <<JSON
{"driver": "loopback", "driver_dirs": ["$vendor/loopback/drivers"],
 "driver_parameters": {"state_dir": "$work/vendor-loopback-state", "verify_host_key": false},
 "instance_set_id": "zzzzz-zzzzz-outoftreelopbak",
 "timeouts": {"boot": "60s", "probe_interval": "100ms", "sync_interval": "100ms"}}
JSON
step "cloudtest (installed CLI, out-of-tree build of the loopback driver, tag verifier)"
"$cli" --config "$work/vendor-loopback.json" cloudtest ||
    fail "cloudtest on the out-of-tree loopback build"
"$cli" --config "$work/vendor-loopback.json" drivers --json |
    grep -q "\"path\":\"$vendor/loopback/drivers/loopback.so\"" ||
    fail "the config's driver_dirs were not the ones used"
expect_no_servers "cloudtest on the out-of-tree loopback build"
cat >"$work/vendor-loopback-fault.json" <<JSON
{"driver_parameters": {"state_dir": "$work/vendor-loopback-state", "verify_host_key": false,
                       "max_instances": 1},
 "expect": "quota"}
JSON
step "cloudtest --conformance (installed CLI, out-of-tree build of the loopback driver)"
"$cli" --config "$work/vendor-loopback.json" cloudtest --conformance --settle 10s --json \
    --fault-config "$work/vendor-loopback-fault.json" >"$work/vendor-loopback-conformance.json" ||
    fail "cloudtest --conformance on the out-of-tree loopback build: $(cat "$work/vendor-loopback-conformance.json")"
conformance_passed "" <"$work/vendor-loopback-conformance.json" ||
    fail "cloudtest --conformance on the out-of-tree loopback build"
expect_no_servers "cloudtest --conformance on the out-of-tree loopback build"
step "all ok"

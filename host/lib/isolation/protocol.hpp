// The driver helper protocol, version 2: what the host (IsolatedEndpoint)
// and the cloudhost-driver-host helper (EndpointServer) say to each other
// over one SOCK_STREAM socketpair. This comment is the schema.
//
// Frame: u32 little-endian payload length (at most the hard limit, 16 MiB by
// default; more is a protocol fault), then one MessagePack array:
//
//   helper -> host  [HELLO, protocol_version, pid]           first frame
//   host -> helper  [CALL, id, op, args...]                  id 0: no reply
//   helper -> host  [REPLY, id, true, result]                success
//                   [REPLY, id, false, status, retry_ns, flags, message]
//                                          (a ch_status + ch_error's fields)
//   helper -> host  [LOG, level, text]     a driver log record, already
//                                          formatted with its fields and
//                                          filtered by the level the host sent
//   helper -> host  [PART, id, [desc...]]  instances of INSTANCES call `id`
//                                          sent ahead while the driver is still
//                                          listing; the REPLY's result holds
//                                          the rest. A failed REPLY after parts
//                                          leaves their instances the host's, as
//                                          an in-process visitor keeps what it
//                                          took (version 2)
//   helper -> host  [RUN, id, command, stdin]   verify_host_key's command
//                                          runner: run on the host's SSH
//                                          connection for call `id`
//   host -> helper  [RUN_REPLY, id, true, stdout, stderr, exit_status]
//                   [RUN_REPLY, id, false, status, retry_ns, flags, message]
//
// Ops and their args -> result (ref: the helper's InstanceRef token):
//   OPEN      library_path name version description abi_min abi_max
//             config_json instance_set_id shared_tags log_level -> nil
//   CREATE    type image_id tags init_command public_key|nil -> [desc]
//   INSTANCES filter needs_tags                             -> [desc...]
//   QUOTA_GROUP type -> str          STOP -> nil       RELEASE ref... (id 0)
//   STRING ref -> str|nil            TAGS ref -> tags  SET_TAGS ref tags -> nil
//   DESTROY ref -> nil               ADDRESS ref -> str  REMOTE_USER ref -> str
//   VERIFY_HOST_KEY ref key has_runner -> nil
//   PRICE_HISTORY ref type -> [[start_unix_ns, price]...]
//   SET_LOG_LEVEL level (id 0)
//   METRICS   -> [family...]   the helper registry's driver metrics, taken
//             when the host's registry renders; served without driver code
//             family = [kind, name, help, [label_name...], [bound...],
//                       [[label_values, value, [bucket_count...]]...]]
// desc = [ref, id, provider_type, tags]; tags = map str -> str (in a desc,
// the driver's tags in its order, a repeated key repeated); type = the
// 15 fields of InstanceType in declaration order.
#pragma once

#include "wire.hpp"

#include "metrics/metrics_snapshot.hpp"

#include "cloudhost/instance.hpp"
#include "cloudhost/types.hpp"

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace cloudhost::isolation {

inline constexpr std::uint64_t protocol_version = 2;

enum class Kind : std::uint64_t { hello = 1, call, reply, log, run, run_reply, part };

enum class Op : std::uint64_t {
    open = 1,
    create,
    instances,
    quota_group,
    stop,
    release,
    string,
    tags,
    set_tags,
    destroy,
    address,
    remote_user,
    verify_host_key,
    price_history,
    set_log_level,
    metrics,
};
const char *op_name(Op op) noexcept;

// An error as it crosses the socket: a ch_status and ch_error's fields.
struct WireError {
    std::int64_t status = 1; // CH_ERR_GENERIC
    std::int64_t retry_ns = 0;
    std::uint64_t flags = 0;
    std::string message;
};
// The exception in flight (call inside a catch block), as a WireError.
WireError wire_error_from_current_exception() noexcept;
// Throws the exception of cloudhost/errors.hpp `error` stands for.
[[noreturn]] void throw_wire_error(const WireError &error, std::string_view operation);
void write_error(Writer &w, const WireError &error);
// Reads the 4 fields written by write_error starting at element `first`.
WireError read_error(const Value &message, std::size_t first);

void write_tags(Writer &w, const Tags &tags);
// A repeated key is a protocol fault (these maps come from a Tags map).
Tags read_tags(const Value &v);
// A listing's tags without copies: `out` gets views into the message (valid
// while it lives), in the sender's order, a repeated key repeated: the
// driver's tags as an in-process visitor sees them.
void read_tag_views(const Value &v,
                    std::vector<std::pair<std::string_view, std::string_view>> &out);
void write_instance_type(Writer &w, const InstanceType &type);
InstanceType read_instance_type(const Value &v);
void write_metrics_snapshot(Writer &w, const std::vector<detail::FamilySnapshot> &families);
std::vector<detail::FamilySnapshot> read_metrics_snapshot(const Value &v);

} // namespace cloudhost::isolation

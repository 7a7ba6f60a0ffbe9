/*
 * cloudhost driver ABI, version 1.
 *
 * The C99 contract between the cloudhost host and a cloud VM driver shipped
 * as a shared object. It re-expresses the Arvados cloud driver interfaces
 * (lib/cloud/interfaces.go) as plain C so that drivers can be written in C,
 * C++ or anything that can export a C function.
 *
 * Shape of the ABI
 * ----------------
 *  - A driver exports exactly two symbols:
 *      cloudhost_driver_info   a constant ch_driver_info (data, no
 *                              relocations) that the host reads from the ELF
 *                              file *without* loading it;
 *      cloudhost_driver_entry  the one entry function; it negotiates the ABI
 *                              version and hands back a table of functions.
 *    Use CH_DRIVER_DEFINE_INFO() and CH_DRIVER_EXPORT for both.
 *  - Every struct that crosses starts with `uint32_t struct_size` set by
 *    whoever fills it. Members are only ever appended; a reader must not
 *    touch members that lie beyond the struct_size it was given
 *    (see CH_HAS_MEMBER).
 *  - Function tables may grow: a NULL slot, or a slot beyond struct_size,
 *    means "not provided"; the host then behaves as documented per slot.
 *
 * Ownership rules (one per kind of pointer)
 * -----------------------------------------
 *  1. Everything passed *into* a function (ch_str, ch_tags, structs, sinks,
 *     the command runner) is borrowed for the duration of that call only.
 *     Copy what you want to keep. Strings are NOT NUL-terminated: use .len.
 *  2. Everything handed *back* goes through a host-provided sink (ch_*_sink)
 *     whose callback copies the data before returning. Nothing allocated on
 *     one side of the ABI is ever freed on the other side.
 *  3. ch_error is allocated by the host; the driver fills it in place
 *     (message truncated to fit, always NUL-terminated).
 *  4. Opaque handles are owned by the driver:
 *       - ch_instance_set* from instance_set_new stays valid until the host
 *         calls instance_set_free (after instance_set_stop);
 *       - every ch_instance* handed to the host through a ch_instance_sink
 *         carries one reference that the host owns and gives back with
 *         instance_release exactly once. The driver keeps the handle valid
 *         until then, even after Destroy and after instance_set_stop, but
 *         the host releases every instance before instance_set_free.
 *  5. The ch_logger handed to instance_set_new stays valid until
 *     instance_set_free returns; the driver may call it from any thread.
 *     The host keeps it callable for as long as the library stays loaded,
 *     but records sent after instance_set_free has returned are dropped
 *     (counted, with one warning naming the driver).
 *
 * Callbacks: the host never calls a driver function from inside a sink,
 * logger or runner callback. A driver may hold its own (non-recursive)
 * locks across sink->put: instances the host does not keep (filter
 * mismatch, invalid description, duplicate id, allocation failure) are
 * released with instance_release only after the driver's function has
 * returned.
 *
 * What the host checks (everything a driver hands back is untrusted):
 *  - an instance id is 1..256 bytes of valid UTF-8 without control
 *    characters (C0, DEL, C1); an instance with any other id, or without a
 *    ch_instance_desc, is dropped from a listing (released, one warning per
 *    call naming the driver and the first problem);
 *  - a string handed back (string, address, remote user, quota group,
 *    provider type) is at most 4096 bytes; NULL data only with length 0;
 *  - tags handed back: at most 1024 per instance, each key and value at
 *    most 4096 bytes (the host's own limits for tags it sends are stricter,
 *    see cloudhost/tag_rules.hpp);
 *  - a price history has at most 100000 points;
 *  - create returning CH_OK must have called out->put exactly once with a
 *    valid instance, otherwise the call fails (DriverError naming the rule)
 *    and every instance handed over is released;
 *  - ch_error.message is read up to its first NUL within the array,
 *    control characters escaped.
 * Breaking a bound fails the call with a DriverError naming it.
 *
 * Exceptions: no C++ exception may leave a driver function. The SDK
 * (driver_sdk.hpp) guards every entry point. If one does escape anyway, the
 * host turns it into a DriverError ("driver threw across the C ABI: ...")
 * where the function returns a result, and logs and counts it (naming the
 * driver) for instance_release, instance_set_stop and instance_set_free.
 *
 * Threads: the host may call every function concurrently from many threads,
 * on the same or different handles (as in Go: "all public methods are
 * goroutine safe"). Sinks and command runners are only valid on the thread
 * and during the call they were passed to.
 *
 * Unloading: the host unloads a driver (dlclose) once nothing refers to it,
 * never while the process exits. For that to be safe a driver must, by the
 * time instance_set_free returns for its set, have joined every thread it
 * started for that set (and stopped every timer or callback that could log
 * or touch the set), and must never
 * register atexit()/pthread_atfork handlers or thread_local objects with
 * destructors that outlive those calls. Build with -fvisibility=hidden and,
 * for g++, -fno-gnu-unique.
 */
#ifndef CLOUDHOST_DRIVER_H
#define CLOUDHOST_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI versions this header describes. A driver serves a range; the host
 * speaks a range; the entry function picks one version from the overlap. */
#define CH_ABI_VERSION_MIN 1u
#define CH_ABI_VERSION_CURRENT 1u

/* Symbol names the host looks up. */
#define CH_DRIVER_INFO_SYMBOL "cloudhost_driver_info"
#define CH_DRIVER_ENTRY_SYMBOL "cloudhost_driver_entry"

#if defined(__GNUC__)
#define CH_DRIVER_EXPORT __attribute__((visibility("default")))
#else
#define CH_DRIVER_EXPORT
#endif

/* The exported symbols need C linkage (and, in C++, external linkage for a
 * const object). */
#ifdef __cplusplus
#define CH_EXTERN_C extern "C"
#else
#define CH_EXTERN_C
#endif

/* True when a struct filled by the other side is large enough to hold
 * `member`. */
/* (sizeof of a pointer member is meant: clang-tidy would ask otherwise.) */
/* NOLINTBEGIN(bugprone-sizeof-expression) */
#define CH_HAS_MEMBER(ptr, type, member)                                                           \
    ((ptr)->struct_size >= offsetof(type, member) + sizeof((ptr)->member))
/* NOLINTEND(bugprone-sizeof-expression) */

/* ------------------------------------------------------------------------ */
/* Metadata: read from the ELF file before any code of the driver runs.      */
/* ------------------------------------------------------------------------ */

#define CH_DRIVER_INFO_MAGIC 0x56444843u /* "CHDV" little endian */
#define CH_DRIVER_NAME_MAX 64
#define CH_DRIVER_VERSION_MAX 32
#define CH_DRIVER_DESCRIPTION_MAX 160

/* Fixed layout without padding and without pointers, so that it can be
 * copied byte for byte out of the file's .rodata. Strings are
 * NUL-terminated within their arrays. `name` is [a-z0-9_-]+; `version` is a
 * semantic version "MAJOR.MINOR.PATCH". */
typedef struct ch_driver_info {
    uint32_t magic;       /* CH_DRIVER_INFO_MAGIC */
    uint32_t struct_size; /* sizeof(ch_driver_info) */
    uint32_t abi_min;     /* lowest ABI version the driver serves */
    uint32_t abi_max;     /* highest ABI version the driver serves */
    char name[CH_DRIVER_NAME_MAX];
    char version[CH_DRIVER_VERSION_MAX];
    char description[CH_DRIVER_DESCRIPTION_MAX];
} ch_driver_info;

/* Defines the exported metadata object. Use once per driver, at file scope:
 *   CH_DRIVER_DEFINE_INFO("example", "1.0.0", 1, 1, "Example driver");  */
#define CH_DRIVER_DEFINE_INFO(name_, version_, abi_min_, abi_max_, desc_)                          \
    CH_EXTERN_C CH_DRIVER_EXPORT const ch_driver_info cloudhost_driver_info = {                    \
        CH_DRIVER_INFO_MAGIC,                                                                      \
        (uint32_t)sizeof(ch_driver_info),                                                          \
        (abi_min_),                                                                                \
        (abi_max_),                                                                                \
        name_,                                                                                     \
        version_,                                                                                  \
        desc_}

/* ------------------------------------------------------------------------ */
/* Basic types                                                                */
/* ------------------------------------------------------------------------ */

/* A borrowed byte string; not NUL-terminated. */
typedef struct ch_str {
    const char *data;
    size_t len;
} ch_str;

typedef struct ch_tag {
    ch_str key;
    ch_str value;
} ch_tag;

/* A set of tags (a map: keys are unique). */
typedef struct ch_tags {
    const ch_tag *items;
    size_t count;
} ch_tags;

/* Status codes. Every fallible function returns one and, unless CH_OK,
 * fills the ch_error it was given. */
typedef enum ch_status {
    CH_OK = 0,
    CH_ERR_GENERIC = 1,         /* any other failure */
    CH_ERR_RATE_LIMIT = 2,      /* cloud refuses calls until earliest_retry */
    CH_ERR_QUOTA = 3,           /* account cannot hold more instances */
    CH_ERR_CAPACITY = 4,        /* provider lacks capacity (see flags) */
    CH_ERR_NOT_IMPLEMENTED = 5, /* no mechanism (Go's ErrNotImplemented) */
    CH_ERR_INVALID_CONFIG = 6,  /* config JSON or arguments rejected */
    CH_ERR_ABI = 7              /* no common ABI version / bad struct */
} ch_status;

/* ch_error.flags */
#define CH_ERROR_FLAG_QUOTA 0x1u                  /* also a quota error (with CAPACITY) */
#define CH_ERROR_FLAG_CAPACITY_INSTANCE_TYPE 0x2u /* only this type */
#define CH_ERROR_FLAG_CAPACITY_QUOTA_GROUP 0x4u   /* the type's quota group */

#define CH_ERROR_MESSAGE_MAX 1024

/* Host-allocated error record the driver fills on failure. */
typedef struct ch_error {
    uint32_t struct_size;
    int32_t status;                 /* a ch_status, same as returned */
    int64_t earliest_retry_unix_ns; /* CH_ERR_RATE_LIMIT: wall clock, ns */
    uint32_t flags;                 /* CH_ERROR_FLAG_* */
    uint32_t reserved;
    char message[CH_ERROR_MESSAGE_MAX]; /* NUL-terminated */
} ch_error;

/* Arvados InstanceType. Sizes in bytes, price per hour. */
typedef struct ch_instance_type {
    uint32_t struct_size;
    uint32_t vcpus;
    ch_str name;          /* the configured name (tag InstanceType) */
    ch_str provider_type; /* the cloud's type id */
    uint64_t ram;
    uint64_t scratch;          /* included_scratch + added_scratch */
    uint64_t included_scratch; /* disk that comes with the type */
    uint64_t added_scratch;    /* extra volume the driver must attach */
    double price;              /* hourly; maximum bid if preemptible */
    uint32_t preemptible;      /* 0 or 1 */
    uint32_t gpu_device_count;
    ch_str gpu_stack; /* "cuda", "rocm" or empty */
    ch_str gpu_driver_version;
    ch_str gpu_hardware_target;
    uint64_t gpu_vram;
} ch_instance_type;

/* ------------------------------------------------------------------------ */
/* Host services                                                              */
/* ------------------------------------------------------------------------ */

typedef enum ch_log_level {
    CH_LOG_TRACE = 0,
    CH_LOG_DEBUG = 1,
    CH_LOG_INFO = 2,
    CH_LOG_WARN = 3,
    CH_LOG_ERROR = 4
} ch_log_level;

typedef struct ch_log_field {
    ch_str key;
    ch_str value;
} ch_log_field;

/* Structured logger (logrus WithField semantics: a message plus key/value
 * fields). Call `enabled` before formatting anything expensive: the host
 * filters by level and answers 0 for levels it would drop. */
typedef struct ch_logger {
    uint32_t struct_size;
    void *ctx;
    int (*enabled)(void *ctx, int level);
    void (*log)(void *ctx, int level, ch_str message, const ch_log_field *fields,
                size_t field_count);
} ch_logger;

/* Receives one string; the host copies it. */
typedef struct ch_string_sink {
    void *ctx;
    void (*put)(void *ctx, ch_str value);
} ch_string_sink;

/* Receives tags one at a time; the host copies them. */
typedef struct ch_tags_sink {
    void *ctx;
    void (*put)(void *ctx, ch_str key, ch_str value);
} ch_tags_sink;

/* What a driver tells about an instance when it hands it over. */
typedef struct ch_instance_desc {
    uint32_t struct_size;
    ch_str id;            /* provider id, stable for the instance's life */
    ch_str provider_type; /* matches some ch_instance_type.provider_type */
    ch_tags tags;         /* tags as of this call */
} ch_instance_desc;

typedef struct ch_instance ch_instance;         /* opaque, driver-owned */
typedef struct ch_instance_set ch_instance_set; /* opaque, driver-owned */

/* Receives instances. Each call hands the host one reference to `instance`
 * (rule 4); the host copies `desc`. */
typedef struct ch_instance_sink {
    void *ctx;
    void (*put)(void *ctx, ch_instance *instance, const ch_instance_desc *desc);
} ch_instance_sink;

/* Receives price history points (any order; the host normalises). */
typedef struct ch_price_sink {
    void *ctx;
    void (*put)(void *ctx, int64_t start_time_unix_ns, double price);
} ch_price_sink;

/* Runs a command on the instance over the SSH connection whose host key is
 * being verified (Go: the *ssh.Client argument of VerifyHostKey). Output
 * goes to the sinks (put may be called many times, chunks append). */
typedef struct ch_command_runner {
    uint32_t struct_size;
    void *ctx;
    ch_status (*run)(void *ctx, ch_str command, ch_str stdin_data,
                     const ch_string_sink *stdout_sink, const ch_string_sink *stderr_sink,
                     int *exit_status, ch_error *error);
} ch_command_runner;

/* ------------------------------------------------------------------------ */
/* The driver's function table                                                */
/* ------------------------------------------------------------------------ */

typedef struct ch_instance_set_args {
    uint32_t struct_size;
    ch_str config_json;     /* driver parameters, verbatim JSON */
    ch_str instance_set_id; /* "xxxxx-xxxxx-xxxxxxxxxxxxxxx", validated */
    ch_tags shared_resource_tags;
    const ch_logger *logger; /* rule 5 */
    /* Appended: the host's metrics service (see "Metrics" below), or NULL.
     * Read it only if CH_HAS_MEMBER(args, ch_instance_set_args, metrics). */
    const struct ch_metrics *metrics;
} ch_instance_set_args;

typedef struct ch_create_args {
    uint32_t struct_size;
    const ch_instance_type *instance_type;
    ch_str image_id;
    ch_tags tags;        /* initial tags, InstanceSetID tag included */
    ch_str init_command; /* shell text to run at boot, may be empty */
    ch_str public_key;   /* authorized_keys line; len 0 = no key */
} ch_create_args;

/* ABI version 1 table. Every function may be called concurrently. */
typedef struct ch_driver_v1 {
    uint32_t struct_size;

    /* Driver.InstanceSet(config, id, tags, logger). */
    ch_status (*instance_set_new)(const ch_instance_set_args *args, ch_instance_set **out,
                                  ch_error *error);
    /* InstanceSet.Stop(): end background work; never destroys instances.
     * The host calls it once, then releases instances, then calls free. */
    void (*instance_set_stop)(ch_instance_set *set);
    void (*instance_set_free)(ch_instance_set *set);

    /* InstanceSet.Create: on success calls out->put exactly once. */
    ch_status (*create)(ch_instance_set *set, const ch_create_args *args,
                        const ch_instance_sink *out, ch_error *error);
    /* InstanceSet.Instances(filter): out->put once per instance. A driver
     * may ignore the filter; the host filters again. */
    ch_status (*instances)(ch_instance_set *set, ch_tags filter, const ch_instance_sink *out,
                           ch_error *error);
    /* InstanceSet.InstanceQuotaGroup: out->put once (empty allowed).
     * NULL slot: the host answers "". */
    ch_status (*instance_quota_group)(ch_instance_set *set, const ch_instance_type *type,
                                      const ch_string_sink *out, ch_error *error);

    /* Gives back the host's reference to an instance (rule 4). */
    void (*instance_release)(ch_instance *instance);

    /* Instance.String(); NULL slot: the host uses the id. */
    ch_status (*instance_string)(ch_instance *instance, const ch_string_sink *out, ch_error *error);
    /* Instance.Tags(): current tags (may lag behind set_tags). */
    ch_status (*instance_tags)(ch_instance *instance, const ch_tags_sink *out, ch_error *error);
    /* Instance.SetTags(tags): replace the instance's tags. */
    ch_status (*instance_set_tags)(ch_instance *instance, ch_tags tags, ch_error *error);
    /* Instance.Destroy(). */
    ch_status (*instance_destroy)(ch_instance *instance, ch_error *error);
    /* Instance.Address(): "host", "host:port" or "" while booting. */
    ch_status (*instance_address)(ch_instance *instance, const ch_string_sink *out,
                                  ch_error *error);
    /* Instance.RemoteUser(). */
    ch_status (*instance_remote_user)(ch_instance *instance, const ch_string_sink *out,
                                      ch_error *error);
    /* Instance.VerifyHostKey(key, client): CH_OK if `public_key` (OpenSSH
     * "type base64" form) is the instance's host key; CH_ERR_NOT_IMPLEMENTED
     * if the driver has no way to tell (the host then uses the instance
     * secret). `runner` may be NULL. NULL slot = NOT_IMPLEMENTED. */
    ch_status (*instance_verify_host_key)(ch_instance *instance, ch_str public_key,
                                          const ch_command_runner *runner, ch_error *error);
    /* Instance.PriceHistory(type). NULL slot: no history. */
    ch_status (*instance_price_history)(ch_instance *instance, const ch_instance_type *type,
                                        const ch_price_sink *out, ch_error *error);
} ch_driver_v1;

/* ------------------------------------------------------------------------ */
/* Entry point and negotiation (Vulkan-style in/out)                          */
/* ------------------------------------------------------------------------ */

typedef struct ch_entry_request {
    uint32_t struct_size;
    uint32_t host_abi_min; /* the host speaks [min, max] */
    uint32_t host_abi_max;
} ch_entry_request;

typedef struct ch_entry_reply {
    uint32_t struct_size;
    uint32_t abi_version; /* chosen: highest version both sides speak */
    const void *table;    /* for version 1: const ch_driver_v1 * */
} ch_entry_reply;

/* The one entry function. Returns CH_OK and fills `reply`, or CH_ERR_ABI
 * when the ranges do not overlap. Must not start threads or touch the
 * network: the host may call it only to inspect the table. The returned
 * table is static and valid while the library is loaded. */
typedef ch_status (*ch_driver_entry_fn)(const ch_entry_request *request, ch_entry_reply *reply);

/* Declares the entry function with the right linkage and visibility:
 *   CH_DRIVER_ENTRY(request, reply) { return ch_negotiate(...); }  */
/* (The arguments are parameter names: they cannot be parenthesised.) */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define CH_DRIVER_ENTRY(request_, reply_)                                                          \
    CH_EXTERN_C CH_DRIVER_EXPORT ch_status cloudhost_driver_entry(                                 \
        const ch_entry_request *request_, ch_entry_reply *reply_)
/* NOLINTEND(bugprone-macro-parentheses) */

/* ------------------------------------------------------------------------ */
/* Metrics (appended): a driver publishes its own Prometheus metrics          */
/* ------------------------------------------------------------------------ */

/* The host hands a ch_metrics to instance_set_new (args->metrics; a host
 * older than this header hands none). A driver registers each metric once,
 * gets one series handle per label combination once, then updates the
 * series from any thread: updates take no lock and allocate nothing.
 *
 * The host exposes a metric `NAME` of driver `d` as
 * `cloudhost_driver_<d>_NAME` (`-` in the driver name becomes `_`) with two
 * labels of its own first: driver, instance_set_id. NAME must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, neither
 * starting with "__"; label names are unique and not "driver",
 * "instance_set_id", nor "le" in a histogram; label values are UTF-8
 * without control characters. Registering a NAME again with the same
 * kind, labels and buckets (another set, a new driver version) returns the
 * same metric; anything else is refused with CH_ERR_INVALID_CONFIG and a
 * message naming the rule.
 *
 * Ownership: ch_metric and ch_metric_series handles are opaque tokens of
 * the ch_metrics that issued them (rule 4 reversed: host-owned), valid until
 * instance_set_free returns; pass them back to that ch_metrics only. Every
 * argument is borrowed for the call (rule 1). No host memory is reachable
 * through a handle, so a host may give out plain numbers (an isolating
 * host forwards them to the real service). */
typedef struct ch_metric ch_metric;               /* opaque, host-owned */
typedef struct ch_metric_series ch_metric_series; /* opaque, host-owned */

typedef enum ch_metric_kind {
    CH_METRIC_COUNTER = 1,  /* only goes up: add(value >= 0) */
    CH_METRIC_GAUGE = 2,    /* set() or add() any value */
    CH_METRIC_HISTOGRAM = 3 /* observe() values into buckets */
} ch_metric_kind;

typedef struct ch_metric_desc {
    uint32_t struct_size;
    uint32_t kind; /* a ch_metric_kind */
    ch_str name;   /* without the host's prefix */
    ch_str help;
    const ch_str *label_names; /* label_count names, fixed for the metric */
    size_t label_count;
    const double *buckets; /* histogram: increasing upper bounds (+Inf implied); */
    size_t bucket_count;   /* 0 = the host's (5 ms .. 10 min, for cloud calls) */
} ch_metric_desc;

typedef struct ch_metrics {
    uint32_t struct_size;
    void *ctx;
    /* Registers (or finds) a metric; *out valid until instance_set_free. */
    ch_status (*register_metric)(void *ctx, const ch_metric_desc *desc, ch_metric **out,
                                 ch_error *error);
    /* The series of `metric` for these label values (as many as its label
     * names, in their order). Call once per combination and keep it: this
     * one may lock and allocate. */
    ch_status (*series)(void *ctx, ch_metric *metric, const ch_str *label_values, size_t count,
                        ch_metric_series **out, ch_error *error);
    /* Cheap, lock-free, from any thread. Values that do not fit the kind
     * are ignored: add() of a negative or NaN to a counter, set() on
     * anything but a gauge, observe() on anything but a histogram. */
    void (*add)(void *ctx, ch_metric_series *series, double value);
    void (*set)(void *ctx, ch_metric_series *series, double value);
    void (*observe)(void *ctx, ch_metric_series *series, double value);
} ch_metrics;

#ifdef __cplusplus
}
#endif

#endif /* CLOUDHOST_DRIVER_H */

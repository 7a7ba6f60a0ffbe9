/*
 * example: a tiny cloud, written in pure C99 against cloudhost/driver.h.
 * It is the template a vendor copies: replace the "machines" section with
 * calls to your cloud's API and keep the rest.
 *
 * What it shows:
 *  - the two exports (metadata read without loading, one entry function);
 *  - a cloud shared by every instance set of this loaded library, behind
 *    one lock, so every function is thread-safe; ids unique in the cloud;
 *  - Instances() listing only the instances of the set's InstanceSetID,
 *    including those an earlier set of that id created (re-adoption);
 *  - instance handles with a reference count (rule 4 of driver.h): the
 *    cloud's list holds one reference, every handle given to the host one;
 *  - everything returned goes through the host's sinks, which copy;
 *  - errors filled with ch_error_set(), never crossing as anything else;
 *  - logging through the host's ch_logger, asking `enabled` first;
 *  - Create honouring the public key and the InitCommand, and VerifyHostKey
 *    answering NOT_IMPLEMENTED so that the host's tag verifier runs.
 *
 * Its machines come in two kinds, chosen by the config:
 *  - without "server_program", they exist only in this set's memory and
 *    never boot (address in TEST-NET-1): enough to exercise the API;
 *  - with "server_program" (the installed cloudhost-loopback-server), each
 *    instance is a real SSH server on 127.0.0.1, a child process started
 *    with posix_spawn in its own directory under "state_dir". It runs the
 *    InitCommand, accepts only the given public key, and runs commands as
 *    the user the host runs as, so `cloudhost cloudtest` exercises it fully.
 *
 * The cloud lives in this library's memory either way: every instance set
 * sees it (each only its own InstanceSetID's instances), and it outlives
 * any one set. When the last open set is freed (the host then unloads the
 * library) it stops every server left: they are this process's children and
 * nothing else could find them. A real cloud keeps its VMs.
 *
 * Config (JSON, every key optional):
 *   {"max_instances": N, "server_program": "PATH", "state_dir": "DIR"}
 * state_dir defaults to $TMPDIR, else /tmp. The driver parses this flat
 * object by hand to stay dependency-free; a real C driver would use json-c
 * (Debian libjson-c-dev) with a bounded tokener depth, refusing NUL bytes,
 * oversized text and unknown keys (docs/driver-guide.md, "Your config
 * parameters"); a C++ driver declares its keys with
 * cloudhost/driver_sdk_config.hpp.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: clock_gettime, mkdtemp, nftw */

#include "cloudhost/driver.h"
#include "cloudhost/driver_helpers.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ; /* handed to the servers we spawn */

CH_DRIVER_DEFINE_INFO(
    "example", "1.0.0", 1u, 1u,
    "Tiny cloud in pure C (in memory, or local SSH servers): the template for vendors");

/* ------------------------------------------------------------------------ */
/* Owned copies of what the host lends us (rule 1: copy what you keep)        */
/* ------------------------------------------------------------------------ */

/* A NUL-terminated heap copy of a borrowed string; NULL when out of memory. */
static char *copy_str(ch_str s) {
    char *out = malloc(s.len + 1);
    if (out) {
        if (s.len)
            memcpy(out, s.data, s.len);
        out[s.len] = '\0';
    }
    return out;
}

static void free_tags(ch_tags *tags) {
    size_t i;
    for (i = 0; i < tags->count; ++i) {
        free((char *)tags->items[i].key.data);
        free((char *)tags->items[i].value.data);
    }
    free((ch_tag *)tags->items);
    tags->items = NULL;
    tags->count = 0;
}

/* Deep copy of `in` into `out`; 0 when out of memory (nothing leaked). */
static int copy_tags(ch_tags in, ch_tags *out) {
    ch_tag *items = NULL;
    size_t i;
    out->items = NULL;
    out->count = 0;
    if (in.count == 0)
        return 1;
    items = calloc(in.count, sizeof *items);
    if (!items)
        return 0;
    out->items = items;
    for (i = 0; i < in.count; ++i) {
        char *key = copy_str(in.items[i].key);
        char *value = copy_str(in.items[i].value);
        if (!key || !value) {
            free(key);
            free(value);
            free_tags(out);
            return 0;
        }
        items[i].key.data = key;
        items[i].key.len = in.items[i].key.len;
        items[i].value.data = value;
        items[i].value.len = in.items[i].value.len;
        out->count = i + 1;
    }
    return 1;
}

/* True when `tags` holds every key=value pair of `filter`. */
static int has_all_tags(const ch_tags *tags, ch_tags filter) {
    size_t f, t;
    for (f = 0; f < filter.count; ++f) {
        int found = 0;
        for (t = 0; t < tags->count && !found; ++t)
            found = tags->items[t].key.len == filter.items[f].key.len &&
                    tags->items[t].value.len == filter.items[f].value.len &&
                    memcmp(tags->items[t].key.data, filter.items[f].key.data,
                           filter.items[f].key.len) == 0 &&
                    memcmp(tags->items[t].value.data, filter.items[f].value.data,
                           filter.items[f].value.len) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static int64_t now_unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* The driver's private definitions of the opaque handles                     */
/* ------------------------------------------------------------------------ */

struct ch_instance {
    unsigned long refs;    /* guarded by cloud.lock */
    int destroyed;         /* guarded by cloud.lock */
    ch_tags tags;          /* owned; guarded by cloud.lock */
    char id[32];           /* immutable after create */
    char *instance_set_id; /* whose it is (a cloud's tag); immutable after create */
    char *provider_type;   /* immutable after create */
    char address[32];      /* in-memory machines: immutable after create */
    int64_t created_unix_ns;
    char *machine_dir;        /* server machines: the server's directory; NULL otherwise */
    pid_t server_pid;         /* server machines: our child until destroy reaps it */
    struct ch_instance *next; /* the cloud's list of live instances */
};

struct example_config {
    unsigned long max_instances; /* 0: no limit */
    char *server_program;        /* NULL: in-memory machines that never boot */
    char *state_dir;             /* NULL: $TMPDIR, else /tmp */
};

struct ch_instance_set {
    const ch_logger *logger;      /* rule 5: valid until instance_set_free returns */
    struct example_config config; /* immutable after instance_set_new */
    char *instance_set_id;        /* immutable after instance_set_new */
    int stopped;                  /* guarded by cloud.lock */
    /* Metrics through the host (cloudhost_driver_example_*); NULL series
     * when the host has none (an older host: see example_metrics_setup). */
    const ch_metrics *metrics;
    ch_metric_series *creates_ok, *creates_quota, *creates_error; /* creates_total{outcome} */
    ch_metric_series *listed;                                     /* instances gauge */
};

/* The cloud: one per loaded copy of this library, shared by all its sets
 * (as a real cloud is shared by every process using the account). */
static struct {
    pthread_mutex_t lock;      /* one lock for the cloud, its instances and sets */
    unsigned long last_serial; /* never reset: ids stay unique */
    unsigned long live_count;  /* listed instances plus creates in progress */
    unsigned long open_sets;   /* the last set to go stops what is left */
    struct ch_instance *live;  /* newest first */
} cloud = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, NULL};

/* ------------------------------------------------------------------------ */
/* Logging                                                                    */
/* ------------------------------------------------------------------------ */

/* Logs `message` with one optional field; asks the host first so that a
 * dropped level costs nothing. */
static void log_event(const struct ch_instance_set *set, ch_log_level level, const char *message,
                      const char *field_key, const char *field_value) {
    const ch_logger *logger = set->logger;
    ch_log_field field;
    if (!logger || !logger->log || !logger->enabled || !logger->enabled(logger->ctx, level))
        return;
    if (field_key) {
        field.key = ch_str_from_cstr(field_key);
        field.value = ch_str_from_cstr(field_value);
    }
    logger->log(logger->ctx, level, ch_str_from_cstr(message), field_key ? &field : NULL,
                field_key ? 1u : 0u);
}

/* ------------------------------------------------------------------------ */
/* Config: a flat JSON object with the keys of `struct example_config`        */
/* ------------------------------------------------------------------------ */

static size_t skip_space(ch_str s, size_t at) {
    while (at < s.len && isspace((unsigned char)s.data[at]))
        ++at;
    return at;
}

static void free_config(struct example_config *config) {
    free(config->server_program);
    free(config->state_dir);
    config->server_program = config->state_dir = NULL;
}

/* Reads the JSON string at `*at` (escapes: \" \\ \/ only) into a new heap
 * string in *out and moves *at past it. */
static ch_status parse_string(ch_str json, size_t *at, const char *key, char **out,
                              ch_error *error) {
    size_t i, n = 0;
    char *text;
    if (*at == json.len || json.data[*at] != '"')
        return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                            "example config: \"%s\" must be a string (offset %lu)", key,
                            (unsigned long)*at);
    text = malloc(json.len - *at); /* never longer than the rest of the input */
    if (!text)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    for (i = *at + 1; i < json.len && json.data[i] != '"'; ++i) {
        char c = json.data[i];
        if (c == '\\' && i + 1 < json.len && strchr("\"\\/", json.data[i + 1]))
            c = json.data[++i];
        else if (c == '\\' || (unsigned char)c < 0x20)
            break;
        text[n++] = c;
    }
    if (i == json.len || json.data[i] != '"' || n == 0) {
        free(text);
        return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                            "example config: \"%s\" must be a non-empty string without "
                            "control characters or escapes other than \\\" \\\\ \\/ "
                            "(offset %lu)",
                            key, (unsigned long)i);
    }
    text[n] = '\0';
    *out = text;
    *at = i + 1;
    return CH_OK;
}

/* Reads the unsigned integer at `*at` and moves *at past it. */
static ch_status parse_count(ch_str json, size_t *at, const char *key, unsigned long *out,
                             ch_error *error) {
    unsigned long value = 0;
    size_t digits = 0;
    while (*at < json.len && json.data[*at] >= '0' && json.data[*at] <= '9') {
        if (value > 100000000ul) /* far beyond any sane limit; avoids overflow */
            return ch_error_set(error, CH_ERR_INVALID_CONFIG, "example config: \"%s\" is too large",
                                key);
        value = value * 10 + (unsigned long)(json.data[*at] - '0');
        ++digits;
        ++*at;
    }
    if (digits == 0)
        return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                            "example config: \"%s\" must be an unsigned integer (offset %lu)", key,
                            (unsigned long)*at);
    *out = value;
    return CH_OK;
}

/* Fills `config`, or returns CH_ERR_INVALID_CONFIG naming the key or the
 * offset of the first character it cannot accept (and leaves nothing
 * allocated). */
static ch_status parse_config(ch_str json, struct example_config *config, ch_error *error) {
    ch_status status = CH_OK;
    size_t at = skip_space(json, 0);
    memset(config, 0, sizeof *config);
    if (at == json.len)
        return CH_OK; /* empty config means {} */
    if (json.data[at] != '{')
        goto bad;
    at = skip_space(json, at + 1);
    while (at < json.len && json.data[at] == '"') {
        ch_str key;
        char **text = NULL;
        key.data = json.data + at + 1;
        key.len = 0;
        while (at + 1 + key.len < json.len && key.data[key.len] != '"')
            ++key.len;
        at = skip_space(json, at + key.len + 2);
        if (at >= json.len || json.data[at] != ':')
            goto bad;
        at = skip_space(json, at + 1);
        if (ch_str_equal_cstr(key, "max_instances"))
            status = parse_count(json, &at, "max_instances", &config->max_instances, error);
        else if (ch_str_equal_cstr(key, "server_program"))
            text = &config->server_program;
        else if (ch_str_equal_cstr(key, "state_dir"))
            text = &config->state_dir;
        else
            status = ch_error_set(error, CH_ERR_INVALID_CONFIG,
                                  "example config: unknown key \"%.*s\" (known: max_instances, "
                                  "server_program, state_dir)",
                                  (int)(key.len > 64 ? 64 : key.len), key.data);
        if (text) {
            free(*text); /* a repeated key: the last one wins, as in most parsers */
            *text = NULL;
            status = parse_string(json, &at,
                                  text == &config->server_program ? "server_program" : "state_dir",
                                  text, error);
        }
        if (status != CH_OK) {
            free_config(config);
            return status;
        }
        at = skip_space(json, at);
        if (at == json.len || json.data[at] != ',')
            break;
        at = skip_space(json, at + 1);
        if (at == json.len || json.data[at] != '"')
            goto bad; /* a comma must be followed by a key */
    }
    if (at == json.len || json.data[at] != '}')
        goto bad;
    at = skip_space(json, at + 1);
    if (at != json.len)
        goto bad;
    return CH_OK;
bad:
    free_config(config);
    return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                        "example config: expected {\"max_instances\": N, \"server_program\": "
                        "\"PATH\", \"state_dir\": \"DIR\"} (every key optional); cannot "
                        "accept offset %lu",
                        (unsigned long)at);
}

/* ------------------------------------------------------------------------ */
/* This toy cloud's machines: replace this section with your cloud's API      */
/* ------------------------------------------------------------------------ */
/* A server machine is a cloudhost-loopback-server child process booting in
 * its own directory, as a VM boots from its disk:
 *   authorized_key   the public key given to Create (what cloud-init installs)
 *   init_command     the InitCommand, run once before SSH answers (user data)
 *   address          "127.0.0.1:PORT", written by the server once it listens
 *   server.log       the server's and the InitCommand's output */

enum { machine_stop_grace_ms = 5000, machine_poll_ms = 10 };

static void sleep_ms(long ms) {
    struct timespec pause;
    pause.tv_sec = ms / 1000;
    pause.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&pause, NULL);
}

/* "dir/name" in a new heap string; NULL when out of memory. */
static char *path_join(const char *dir, const char *name) {
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s/%s", dir, name);
    return path;
}

/* Writes `content` to dir/name (mode 0600); 0 or an errno value. */
static int write_machine_file(const char *dir, const char *name, ch_str content) {
    char *path = path_join(dir, name);
    int fd, saved;
    size_t done = 0;
    if (!path)
        return ENOMEM;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    saved = errno;
    free(path);
    if (fd < 0)
        return saved;
    while (done < content.len) {
        ssize_t n = write(fd, content.data + done, content.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            close(fd);
            return saved;
        }
        done += (size_t)n;
    }
    return close(fd) == 0 ? 0 : errno;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    remove(path); /* best effort: what cannot be removed stays behind */
    return 0;
}

/* rm -rf dir, without following symbolic links. */
static void remove_machine_dir(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts the server of `instance` in a new directory under the state dir.
 * The server is our child: stop_machine() reaps it. */
static ch_status start_machine(const struct example_config *config, struct ch_instance *instance,
                               const ch_create_args *args, ch_error *error) {
    const char *state_dir = config->state_dir ? config->state_dir : getenv("TMPDIR");
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t no_signals, default_signals;
    char *argv[3];
    char *log_path;
    int rc;

    instance->machine_dir =
        path_join(state_dir && *state_dir ? state_dir : "/tmp", "cloudhost-example-XXXXXX");
    if (!instance->machine_dir)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    if (!mkdtemp(instance->machine_dir)) {
        rc = errno;
        free(instance->machine_dir);
        instance->machine_dir = NULL;
        return ch_error_set(error, CH_ERR_GENERIC,
                            "example: cannot create a machine directory "
                            "under %s: %s",
                            state_dir ? state_dir : "/tmp", strerror(rc));
    }
    /* Without a key nobody can log in: the server then refuses to boot,
     * like an image whose cloud-init found no key. */
    rc = args->public_key.len
             ? write_machine_file(instance->machine_dir, "authorized_key", args->public_key)
             : 0;
    if (rc == 0 && args->init_command.len)
        rc = write_machine_file(instance->machine_dir, "init_command", args->init_command);
    if (rc != 0) {
        remove_machine_dir(instance->machine_dir);
        return ch_error_set(error, CH_ERR_GENERIC, "example: cannot write to %s: %s",
                            instance->machine_dir, strerror(rc));
    }

    /* posix_spawn, not fork: safe in the host's many threads. The server
     * gets /dev/null as stdin, its log as stdout and stderr, and the default
     * signal dispositions whatever the host blocks or ignores. */
    log_path = path_join(instance->machine_dir, "server.log");
    if (!log_path) {
        remove_machine_dir(instance->machine_dir);
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    }
    sigemptyset(&no_signals);
    sigemptyset(&default_signals);
    sigaddset(&default_signals, SIGPIPE);
    sigaddset(&default_signals, SIGCHLD);
    sigaddset(&default_signals, SIGTERM);
    sigaddset(&default_signals, SIGINT);
    sigaddset(&default_signals, SIGHUP);
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND,
                                              0600);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attributes, &no_signals);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attributes, &default_signals);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    argv[0] = config->server_program;
    argv[1] = instance->machine_dir;
    argv[2] = NULL;
    if (rc == 0)
        rc = posix_spawn(&instance->server_pid, config->server_program, &actions, &attributes, argv,
                         environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    free(log_path);
    if (rc != 0) {
        instance->server_pid = 0;
        remove_machine_dir(instance->machine_dir);
        return ch_error_set(error, CH_ERR_GENERIC, "example: cannot start %s: %s",
                            config->server_program, strerror(rc));
    }
    return CH_OK;
}

/* Shuts the machine down: SIGTERM, a bounded wait, then SIGKILL for the
 * server's whole process group; reaps it and removes its directory. */
static void stop_machine(struct ch_instance *instance) {
    pid_t pid = instance->server_pid;
    int status, waited_ms, reaped = 0;
    if (pid > 0) {
        kill(pid, SIGTERM); /* the server stops its connections and commands */
        for (waited_ms = 0; waited_ms < machine_stop_grace_ms; waited_ms += machine_poll_ms) {
            pid_t done = waitpid(pid, &status, WNOHANG);
            if (done == pid || (done < 0 && errno != EINTR)) { /* ECHILD: reaped elsewhere */
                reaped = 1;
                break;
            }
            sleep_ms(machine_poll_ms);
        }
        if (!reaped) {
            kill(-pid, SIGKILL); /* the server leads its own session and group */
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
        instance->server_pid = 0;
    }
    if (instance->machine_dir)
        remove_machine_dir(instance->machine_dir);
}

/* The "host:port" the server published, or "" while it boots. */
static void read_machine_address(const struct ch_instance *instance, char *out, size_t size) {
    char *path = path_join(instance->machine_dir, "address");
    FILE *file = path ? fopen(path, "r") : NULL;
    size_t len = 0;
    out[0] = '\0';
    if (file) {
        if (fgets(out, (int)size, file))
            len = strlen(out);
        fclose(file);
    }
    while (len > 0 && isspace((unsigned char)out[len - 1]))
        out[--len] = '\0';
    free(path);
}

/* Commands on a server machine run as the user the host runs as. */
static void machine_user(char *out, size_t size) {
    struct passwd entry, *found = NULL;
    char buffer[4096];
    if (getpwuid_r(geteuid(), &entry, buffer, sizeof buffer, &found) == 0 && found)
        snprintf(out, size, "%s", found->pw_name);
    else
        snprintf(out, size, "%lu", (unsigned long)geteuid()); /* a uid without a name */
}

/* ------------------------------------------------------------------------ */
/* Instance set                                                               */
/* ------------------------------------------------------------------------ */

static void free_set(struct ch_instance_set *set) {
    free_config(&set->config);
    free(set->instance_set_id);
    free(set);
}

/* Registers this set's metrics. Series are looked up once here: updating
 * one later is a single lock-free call, fine on every Create. */
static ch_status example_metrics_setup(struct ch_instance_set *set,
                                       const ch_instance_set_args *args, ch_error *error) {
    ch_str outcome = ch_str_from_cstr("outcome");
    ch_str ok = ch_str_from_cstr("ok"), quota = ch_str_from_cstr("quota"),
           failed = ch_str_from_cstr("error");
    ch_metric_desc desc;
    ch_metric *creates = NULL, *listed = NULL;
    const ch_metrics *m;
    ch_status st;
    /* A host older than the metrics service: run without them. */
    if (!CH_HAS_MEMBER(args, ch_instance_set_args, metrics) || !args->metrics)
        return CH_OK;
    m = args->metrics;
    memset(&desc, 0, sizeof desc);
    desc.struct_size = (uint32_t)sizeof desc;
    desc.kind = CH_METRIC_COUNTER;
    desc.name = ch_str_from_cstr("creates_total");
    desc.help = ch_str_from_cstr("Create calls by outcome.");
    desc.label_names = &outcome;
    desc.label_count = 1;
    if ((st = m->register_metric(m->ctx, &desc, &creates, error)) != CH_OK)
        return st;
    desc.kind = CH_METRIC_GAUGE;
    desc.name = ch_str_from_cstr("instances");
    desc.help = ch_str_from_cstr("Instances the set's last Instances() call listed.");
    desc.label_names = NULL;
    desc.label_count = 0;
    if ((st = m->register_metric(m->ctx, &desc, &listed, error)) != CH_OK ||
        (st = m->series(m->ctx, creates, &ok, 1, &set->creates_ok, error)) != CH_OK ||
        (st = m->series(m->ctx, creates, &quota, 1, &set->creates_quota, error)) != CH_OK ||
        (st = m->series(m->ctx, creates, &failed, 1, &set->creates_error, error)) != CH_OK ||
        (st = m->series(m->ctx, listed, NULL, 0, &set->listed, error)) != CH_OK)
        return st;
    set->metrics = m;
    return CH_OK;
}

static void example_count(const struct ch_instance_set *set, ch_metric_series *series) {
    if (set->metrics)
        set->metrics->add(set->metrics->ctx, series, 1);
}

static ch_status example_instance_set_new(const ch_instance_set_args *args, ch_instance_set **out,
                                          ch_error *error) {
    struct ch_instance_set *set;
    ch_status status;
    if (!args || !out || !CH_HAS_MEMBER(args, ch_instance_set_args, logger))
        return ch_error_set(error, CH_ERR_ABI, "example: instance_set_args too small");
    set = calloc(1, sizeof *set);
    if (!set)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    status = parse_config(args->config_json, &set->config, error);
    if (status != CH_OK) {
        free(set);
        return status;
    }
    /* Check what can be checked now: a bad path is the operator's to fix. */
    if (set->config.server_program && access(set->config.server_program, X_OK) != 0) {
        status = ch_error_set(error, CH_ERR_INVALID_CONFIG,
                              "example config: \"server_program\": cannot execute %s: %s",
                              set->config.server_program, strerror(errno));
        free_set(set);
        return status;
    }
    set->instance_set_id = copy_str(args->instance_set_id);
    if (!set->instance_set_id) {
        free_set(set);
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    }
    set->logger = args->logger;
    status = example_metrics_setup(set, args, error);
    if (status != CH_OK) {
        free_set(set);
        return status;
    }
    pthread_mutex_lock(&cloud.lock);
    ++cloud.open_sets;
    pthread_mutex_unlock(&cloud.lock);
    *out = set;
    log_event(set, CH_LOG_DEBUG, "instance set ready", "machines",
              set->config.server_program ? set->config.server_program : "in memory");
    return CH_OK;
}

/* Stop ends background work: this driver has none, it only refuses Create. */
static void example_instance_set_stop(ch_instance_set *set) {
    pthread_mutex_lock(&cloud.lock);
    set->stopped = 1;
    pthread_mutex_unlock(&cloud.lock);
}

static void free_instance(struct ch_instance *instance) {
    free_tags(&instance->tags);
    free(instance->instance_set_id);
    free(instance->provider_type);
    free(instance->machine_dir);
    free(instance);
}

/* Drops one reference; the caller holds cloud.lock. Returns the instance to
 * free after unlocking, or NULL. */
static struct ch_instance *unref_locked(struct ch_instance *instance) {
    return --instance->refs == 0 ? instance : NULL;
}

static void example_instance_set_free(ch_instance_set *set) {
    /* The cloud outlives the set. Once no set is open, the host unloads this
     * library: stop every machine left, since nothing else could. The host
     * released every handle, so only the list's references remain. */
    struct ch_instance *left = NULL;
    pthread_mutex_lock(&cloud.lock);
    if (--cloud.open_sets == 0) {
        left = cloud.live;
        cloud.live = NULL;
        cloud.live_count = 0;
    }
    pthread_mutex_unlock(&cloud.lock);
    while (left) {
        struct ch_instance *next = left->next;
        stop_machine(left);
        if (unref_locked(left)) /* no other thread can see it any more */
            free_instance(left);
        left = next;
    }
    free_set(set);
}

/* Gives the host one new reference; the caller holds cloud.lock. The host's
 * sink copies the description before returning, so the borrowed tags stay
 * valid long enough. */
static void hand_over_locked(struct ch_instance *instance, const ch_instance_sink *out) {
    ch_instance_desc desc;
    desc.struct_size = (uint32_t)sizeof desc;
    desc.id = ch_str_from_cstr(instance->id);
    desc.provider_type = ch_str_from_cstr(instance->provider_type);
    desc.tags = instance->tags;
    ++instance->refs;
    out->put(out->ctx, instance, &desc);
}

static ch_status example_create(ch_instance_set *set, const ch_create_args *args,
                                const ch_instance_sink *out, ch_error *error) {
    struct ch_instance *instance;
    char id[sizeof instance->id];
    unsigned long serial;
    ch_status status;
    if (!args || !CH_HAS_MEMBER(args, ch_create_args, public_key) || !args->instance_type)
        return ch_error_set(error, CH_ERR_ABI, "example: create_args too small");

    instance = calloc(1, sizeof *instance);
    if (!instance)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    instance->provider_type = copy_str(args->instance_type->provider_type);
    instance->instance_set_id = copy_str(ch_str_from_cstr(set->instance_set_id));
    if (!instance->provider_type || !instance->instance_set_id ||
        !copy_tags(args->tags, &instance->tags)) {
        free_instance(instance);
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    }
    instance->created_unix_ns = now_unix_ns();

    /* Check Stop and the quota, and reserve a slot, before starting a
     * machine: never start what you would have to refuse. */
    pthread_mutex_lock(&cloud.lock);
    if (set->stopped) {
        pthread_mutex_unlock(&cloud.lock);
        free_instance(instance);
        return ch_error_set(error, CH_ERR_GENERIC, "Create called after Stop");
    }
    if (set->config.max_instances && cloud.live_count >= set->config.max_instances) {
        unsigned long max = set->config.max_instances;
        pthread_mutex_unlock(&cloud.lock);
        free_instance(instance);
        example_count(set, set->creates_quota);
        return ch_error_set(error, CH_ERR_QUOTA, "example: at most %lu instances", max);
    }
    ++cloud.live_count;
    serial = ++cloud.last_serial;
    pthread_mutex_unlock(&cloud.lock);

    snprintf(instance->id, sizeof instance->id, "example-%lu", serial);
    snprintf(instance->address, sizeof instance->address, "192.0.2.%lu",
             serial % 254 + 1); /* TEST-NET-1: never routable */
    /* Booting takes a while and needs no lock: other calls go on meanwhile. */
    if (set->config.server_program) {
        status = start_machine(&set->config, instance, args, error);
        if (status != CH_OK) {
            pthread_mutex_lock(&cloud.lock);
            --cloud.live_count; /* give the slot back */
            pthread_mutex_unlock(&cloud.lock);
            free_instance(instance);
            example_count(set, set->creates_error);
            return status;
        }
    }

    pthread_mutex_lock(&cloud.lock);
    instance->refs = 1; /* the list's reference */
    instance->next = cloud.live;
    cloud.live = instance;
    hand_over_locked(instance, out);
    memcpy(id, instance->id, sizeof id);
    pthread_mutex_unlock(&cloud.lock);

    example_count(set, set->creates_ok);
    log_event(set, CH_LOG_INFO, "created instance", "id", id);
    return CH_OK;
}

/* Only this set's InstanceSetID: a set never sees (or destroys) another's
 * instances, and sees those an earlier set of its id created. */
static ch_status example_instances(ch_instance_set *set, ch_tags filter,
                                   const ch_instance_sink *out, ch_error *error) {
    struct ch_instance *instance;
    unsigned long listed = 0;
    (void)error; /* an in-memory list cannot fail */
    pthread_mutex_lock(&cloud.lock);
    for (instance = cloud.live; instance; instance = instance->next)
        if (strcmp(instance->instance_set_id, set->instance_set_id) == 0 &&
            has_all_tags(&instance->tags, filter)) {
            hand_over_locked(instance, out);
            ++listed;
        }
    pthread_mutex_unlock(&cloud.lock);
    if (set->metrics)
        set->metrics->set(set->metrics->ctx, set->listed, (double)listed);
    return CH_OK;
}

/* One quota group for everything (Arvados's default). */
static ch_status example_instance_quota_group(ch_instance_set *set, const ch_instance_type *type,
                                              const ch_string_sink *out, ch_error *error) {
    (void)set;
    (void)type;
    (void)error;
    out->put(out->ctx, ch_str_from_cstr(""));
    return CH_OK;
}

/* ------------------------------------------------------------------------ */
/* Instances                                                                  */
/* ------------------------------------------------------------------------ */

static void example_instance_release(ch_instance *instance) {
    struct ch_instance *dead;
    pthread_mutex_lock(&cloud.lock);
    dead = unref_locked(instance);
    pthread_mutex_unlock(&cloud.lock);
    if (dead)
        free_instance(dead);
}

static ch_status example_instance_tags(ch_instance *instance, const ch_tags_sink *out,
                                       ch_error *error) {
    size_t i;
    (void)error;
    pthread_mutex_lock(&cloud.lock);
    for (i = 0; i < instance->tags.count; ++i)
        out->put(out->ctx, instance->tags.items[i].key, instance->tags.items[i].value);
    pthread_mutex_unlock(&cloud.lock);
    return CH_OK;
}

static ch_status example_instance_set_tags(ch_instance *instance, ch_tags tags, ch_error *error) {
    ch_tags fresh, old;
    if (!copy_tags(tags, &fresh)) /* copy before locking: no allocation under the lock */
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    pthread_mutex_lock(&cloud.lock);
    old = instance->tags;
    instance->tags = fresh;
    pthread_mutex_unlock(&cloud.lock);
    free_tags(&old);
    return CH_OK;
}

/* Removes the instance from the cloud. The handle stays valid (rule 4)
 * until the host releases it; destroying twice is not an error. */
static ch_status example_instance_destroy(ch_instance *instance, ch_error *error) {
    struct ch_instance **link;
    struct ch_instance *dead = NULL;
    int destroyed_now = 0;
    (void)error;
    pthread_mutex_lock(&cloud.lock);
    if (!instance->destroyed) {
        destroyed_now = 1;
        for (link = &cloud.live; *link; link = &(*link)->next) {
            if (*link == instance) {
                *link = instance->next;
                break;
            }
        }
        instance->destroyed = 1;
        instance->next = NULL;
        --cloud.live_count;
        dead = unref_locked(instance); /* the list's reference */
    }
    pthread_mutex_unlock(&cloud.lock);
    /* Unlisted first, then shut down without the lock: only this call got
     * destroyed_now, so only it touches the machine. */
    if (destroyed_now)
        stop_machine(instance);
    if (dead) /* cannot happen while the caller holds a handle; kept for clarity */
        free_instance(dead);
    return CH_OK;
}

static ch_status example_instance_address(ch_instance *instance, const ch_string_sink *out,
                                          ch_error *error) {
    char address[64];
    (void)error;
    if (instance->machine_dir)
        read_machine_address(instance, address, sizeof address); /* "" while booting */
    else
        snprintf(address, sizeof address, "%s", instance->address);
    out->put(out->ctx, ch_str_from_cstr(address));
    return CH_OK;
}

static ch_status example_instance_remote_user(ch_instance *instance, const ch_string_sink *out,
                                              ch_error *error) {
    char user[256] = "admin"; /* what a typical cloud image logs in as */
    (void)error;
    if (instance->machine_dir)
        machine_user(user, sizeof user);
    out->put(out->ctx, ch_str_from_cstr(user));
    return CH_OK;
}

/* This cloud cannot tell host keys: the host falls back to the instance
 * secret (Arvados's ErrNotImplemented). */
static ch_status example_instance_verify_host_key(ch_instance *instance, ch_str public_key,
                                                  const ch_command_runner *runner,
                                                  ch_error *error) {
    (void)instance;
    (void)public_key;
    (void)runner;
    return ch_error_set(error, CH_ERR_NOT_IMPLEMENTED,
                        "example: host keys are not known to this cloud");
}

/* One point: the type's price since the instance was created. */
static ch_status example_instance_price_history(ch_instance *instance, const ch_instance_type *type,
                                                const ch_price_sink *out, ch_error *error) {
    (void)error;
    out->put(out->ctx, instance->created_unix_ns, type ? type->price : 0.0);
    return CH_OK;
}

/* ------------------------------------------------------------------------ */
/* Exports                                                                    */
/* ------------------------------------------------------------------------ */

static const ch_driver_v1 example_table_v1 = {
    sizeof(ch_driver_v1),
    example_instance_set_new,
    example_instance_set_stop,
    example_instance_set_free,
    example_create,
    example_instances,
    example_instance_quota_group,
    example_instance_release,
    NULL, /* instance_string: optional, the host then uses the id */
    example_instance_tags,
    example_instance_set_tags,
    example_instance_destroy,
    example_instance_address,
    example_instance_remote_user,
    example_instance_verify_host_key,
    example_instance_price_history,
};

CH_DRIVER_ENTRY(request, reply) {
    static const void *const tables[] = {&example_table_v1};
    return ch_negotiate(request, reply, 1u, 1u, tables);
}

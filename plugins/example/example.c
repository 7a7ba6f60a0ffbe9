/*
 * example: a tiny in-memory cloud, written in pure C99 against
 * cloudhost/driver.h. It is the template a vendor copies: replace the
 * in-memory list with calls to your cloud's API and keep the rest.
 *
 * What it shows:
 *  - the two exports (metadata read without loading, one entry function);
 *  - one lock per instance set, so every function is thread-safe;
 *  - instance handles with a reference count (rule 4 of driver.h): the set's
 *    list holds one reference, every handle given to the host holds one;
 *  - everything returned goes through the host's sinks, which copy;
 *  - errors filled with ch_error_set(), never crossing as anything else;
 *  - logging through the host's ch_logger, asking `enabled` first.
 *
 * Config (JSON): `{}` or `{"max_instances": N}`. The driver parses exactly
 * these two forms by hand (whitespace allowed) to stay dependency-free; a
 * real driver would use a JSON library.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "cloudhost/driver.h"
#include "cloudhost/driver_helpers.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

CH_DRIVER_DEFINE_INFO("example", "1.0.0", 1u, 1u,
                      "Tiny in-memory cloud in pure C: the template for driver vendors");

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
    struct ch_instance_set *set; /* valid: the host releases us before free */
    unsigned long refs;          /* guarded by set->lock */
    int destroyed;               /* guarded by set->lock */
    ch_tags tags;                /* owned; guarded by set->lock */
    char id[32];                 /* immutable after create */
    char *provider_type;         /* immutable after create */
    char address[32];            /* immutable after create */
    int64_t created_unix_ns;
    struct ch_instance *next; /* the set's list of live instances */
};

struct ch_instance_set {
    pthread_mutex_t lock;        /* one lock for the set and all its instances */
    const ch_logger *logger;     /* rule 5: valid until instance_set_free returns */
    unsigned long max_instances; /* 0: no limit */
    unsigned long last_serial;
    unsigned long live_count;
    struct ch_instance *live; /* newest first */
    int stopped;
};

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
/* Config: `{}` or `{"max_instances": N}`                                     */
/* ------------------------------------------------------------------------ */

static size_t skip_space(ch_str s, size_t at) {
    while (at < s.len && isspace((unsigned char)s.data[at]))
        ++at;
    return at;
}

/* Returns CH_OK and sets *max_instances, or CH_ERR_INVALID_CONFIG naming the
 * offset of the first character it cannot accept. */
static ch_status parse_config(ch_str json, unsigned long *max_instances, ch_error *error) {
    static const char key[] = "\"max_instances\"";
    const size_t key_len = sizeof key - 1;
    size_t at = skip_space(json, 0);
    *max_instances = 0;
    if (at == json.len)
        return CH_OK; /* empty config means {} */
    if (json.data[at] != '{')
        goto bad;
    at = skip_space(json, at + 1);
    if (at < json.len && json.data[at] != '}') {
        unsigned long value = 0;
        size_t digits = 0;
        if (json.len - at < key_len || memcmp(json.data + at, key, key_len) != 0)
            goto bad;
        at = skip_space(json, at + key_len);
        if (at == json.len || json.data[at] != ':')
            goto bad;
        at = skip_space(json, at + 1);
        while (at < json.len && json.data[at] >= '0' && json.data[at] <= '9') {
            if (value > 100000000ul) /* far beyond any sane limit; avoids overflow */
                return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                                    "example config: \"max_instances\" is too large");
            value = value * 10 + (unsigned long)(json.data[at] - '0');
            ++digits;
            ++at;
        }
        if (digits == 0)
            return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                                "example config: \"max_instances\" must be an unsigned "
                                "integer (offset %lu)",
                                (unsigned long)at);
        *max_instances = value;
        at = skip_space(json, at);
    }
    if (at == json.len || json.data[at] != '}')
        goto bad;
    at = skip_space(json, at + 1);
    if (at != json.len)
        goto bad;
    return CH_OK;
bad:
    return ch_error_set(error, CH_ERR_INVALID_CONFIG,
                        "example config: expected {} or {\"max_instances\": N}; cannot "
                        "accept offset %lu",
                        (unsigned long)at);
}

/* ------------------------------------------------------------------------ */
/* Instance set                                                               */
/* ------------------------------------------------------------------------ */

static ch_status example_instance_set_new(const ch_instance_set_args *args, ch_instance_set **out,
                                          ch_error *error) {
    struct ch_instance_set *set;
    unsigned long max_instances = 0;
    ch_status status;
    if (!args || !out || !CH_HAS_MEMBER(args, ch_instance_set_args, logger))
        return ch_error_set(error, CH_ERR_ABI, "example: instance_set_args too small");
    status = parse_config(args->config_json, &max_instances, error);
    if (status != CH_OK)
        return status;
    set = calloc(1, sizeof *set);
    if (!set)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    if (pthread_mutex_init(&set->lock, NULL) != 0) {
        free(set);
        return ch_error_set(error, CH_ERR_GENERIC, "example: cannot create a mutex");
    }
    set->logger = args->logger;
    set->max_instances = max_instances;
    *out = set;
    log_event(set, CH_LOG_DEBUG, "instance set ready", NULL, NULL);
    return CH_OK;
}

/* Stop ends background work: this driver has none, it only refuses Create. */
static void example_instance_set_stop(ch_instance_set *set) {
    pthread_mutex_lock(&set->lock);
    set->stopped = 1;
    pthread_mutex_unlock(&set->lock);
}

static void free_instance(struct ch_instance *instance) {
    free_tags(&instance->tags);
    free(instance->provider_type);
    free(instance);
}

/* Drops one reference; the caller holds set->lock. Returns the instance to
 * free after unlocking, or NULL. */
static struct ch_instance *unref_locked(struct ch_instance *instance) {
    return --instance->refs == 0 ? instance : NULL;
}

static void example_instance_set_free(ch_instance_set *set) {
    /* The host released every handle, so only the list's references remain.
     * (The in-memory cloud vanishes with the set; a real cloud would keep
     * its VMs.) */
    struct ch_instance *instance = set->live;
    while (instance) {
        struct ch_instance *next = instance->next;
        if (unref_locked(instance))
            free_instance(instance);
        instance = next;
    }
    pthread_mutex_destroy(&set->lock);
    free(set);
}

/* Gives the host one new reference; the caller holds set->lock. The host's
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
    if (!args || !CH_HAS_MEMBER(args, ch_create_args, public_key) || !args->instance_type)
        return ch_error_set(error, CH_ERR_ABI, "example: create_args too small");

    instance = calloc(1, sizeof *instance);
    if (!instance)
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    instance->provider_type = copy_str(args->instance_type->provider_type);
    if (!instance->provider_type || !copy_tags(args->tags, &instance->tags)) {
        free_instance(instance);
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    }
    instance->created_unix_ns = now_unix_ns();

    pthread_mutex_lock(&set->lock);
    if (set->stopped) {
        pthread_mutex_unlock(&set->lock);
        free_instance(instance);
        return ch_error_set(error, CH_ERR_GENERIC, "Create called after Stop");
    }
    if (set->max_instances && set->live_count >= set->max_instances) {
        unsigned long max = set->max_instances;
        pthread_mutex_unlock(&set->lock);
        free_instance(instance);
        return ch_error_set(error, CH_ERR_QUOTA, "example: at most %lu instances", max);
    }
    ++set->last_serial;
    snprintf(instance->id, sizeof instance->id, "example-%lu", set->last_serial);
    snprintf(instance->address, sizeof instance->address, "192.0.2.%lu",
             set->last_serial % 254 + 1); /* TEST-NET-1: never routable */
    instance->set = set;
    instance->refs = 1; /* the list's reference */
    instance->next = set->live;
    set->live = instance;
    ++set->live_count;
    hand_over_locked(instance, out);
    memcpy(id, instance->id, sizeof id);
    pthread_mutex_unlock(&set->lock);

    log_event(set, CH_LOG_INFO, "created instance", "id", id);
    return CH_OK;
}

static ch_status example_instances(ch_instance_set *set, ch_tags filter,
                                   const ch_instance_sink *out, ch_error *error) {
    struct ch_instance *instance;
    (void)error; /* an in-memory list cannot fail */
    pthread_mutex_lock(&set->lock);
    for (instance = set->live; instance; instance = instance->next)
        if (has_all_tags(&instance->tags, filter))
            hand_over_locked(instance, out);
    pthread_mutex_unlock(&set->lock);
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
    pthread_mutex_lock(&instance->set->lock);
    dead = unref_locked(instance);
    pthread_mutex_unlock(&instance->set->lock);
    if (dead)
        free_instance(dead);
}

static ch_status example_instance_tags(ch_instance *instance, const ch_tags_sink *out,
                                       ch_error *error) {
    size_t i;
    (void)error;
    pthread_mutex_lock(&instance->set->lock);
    for (i = 0; i < instance->tags.count; ++i)
        out->put(out->ctx, instance->tags.items[i].key, instance->tags.items[i].value);
    pthread_mutex_unlock(&instance->set->lock);
    return CH_OK;
}

static ch_status example_instance_set_tags(ch_instance *instance, ch_tags tags, ch_error *error) {
    ch_tags fresh, old;
    if (!copy_tags(tags, &fresh)) /* copy before locking: no allocation under the lock */
        return ch_error_set(error, CH_ERR_GENERIC, "example: out of memory");
    pthread_mutex_lock(&instance->set->lock);
    old = instance->tags;
    instance->tags = fresh;
    pthread_mutex_unlock(&instance->set->lock);
    free_tags(&old);
    return CH_OK;
}

/* Removes the instance from the cloud. The handle stays valid (rule 4)
 * until the host releases it; destroying twice is not an error. */
static ch_status example_instance_destroy(ch_instance *instance, ch_error *error) {
    struct ch_instance_set *set = instance->set;
    struct ch_instance **link;
    struct ch_instance *dead = NULL;
    int destroyed_now = 0;
    (void)error;
    pthread_mutex_lock(&set->lock);
    if (!instance->destroyed) {
        destroyed_now = 1;
        for (link = &set->live; *link; link = &(*link)->next) {
            if (*link == instance) {
                *link = instance->next;
                break;
            }
        }
        instance->destroyed = 1;
        instance->next = NULL;
        --set->live_count;
        dead = unref_locked(instance); /* the list's reference */
    }
    pthread_mutex_unlock(&set->lock);
    if (destroyed_now)
        log_event(set, CH_LOG_INFO, "destroyed instance", "id", instance->id);
    if (dead) /* cannot happen while the caller holds a handle; kept for clarity */
        free_instance(dead);
    return CH_OK;
}

static ch_status example_instance_address(ch_instance *instance, const ch_string_sink *out,
                                          ch_error *error) {
    (void)error;
    out->put(out->ctx, ch_str_from_cstr(instance->address));
    return CH_OK;
}

static ch_status example_instance_remote_user(ch_instance *instance, const ch_string_sink *out,
                                              ch_error *error) {
    (void)instance;
    (void)error;
    out->put(out->ctx, ch_str_from_cstr("admin"));
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

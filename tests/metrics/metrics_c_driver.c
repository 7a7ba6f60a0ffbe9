/* A pure C test driver that publishes metrics through the host's ch_metrics
 * service: every Create counts creates_total{instance_type}, observes the
 * type's vCPUs in create_vcpus and counts the live instances in the
 * instances gauge. Built twice: against today's driver.h (metrics-c) and,
 * with METRICS_DRIVER_OLD_HEADER, against the header of before the metrics
 * service (old-header), which knows nothing of it.
 *
 * config_json "bad:NAME:LABEL" makes instance_set_new register a counter
 * NAME with label LABEL and fail with the host's answer (rule tests). */
#include "cloudhost/driver.h"
#include "cloudhost/driver_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef METRICS_DRIVER_OLD_HEADER
CH_DRIVER_DEFINE_INFO("old-header", "1.0.0", 1, 1,
                      "Test driver built against the ABI 1 header of before metrics");
/* The struct this driver was built with really is the old, shorter one. */
typedef char old_args_size_check[sizeof(ch_instance_set_args) == 64 ? 1 : -1];
#else
CH_DRIVER_DEFINE_INFO("metrics-c", "1.0.0", 1, 1, "Test driver publishing metrics from C");
#endif

struct ch_instance_set {
    int ignored;
#ifndef METRICS_DRIVER_OLD_HEADER
    const ch_metrics *metrics; /* NULL: the host has none */
    ch_metric_series *creates;
    ch_metric_series *vcpus;
    ch_metric_series *instances;
#endif
};

struct ch_instance {
    struct ch_instance_set *set;
    char id[32];
    char provider_type[64];
};

static ch_str str_of(const char *s) {
    return ch_str_from_cstr(s);
}

#ifndef METRICS_DRIVER_OLD_HEADER
static ch_status register_one(const ch_metrics *m, ch_metric_kind kind, const char *name,
                              const char *label, const double *buckets, size_t bucket_count,
                              ch_metric **out, ch_error *error) {
    ch_str label_name = str_of(label ? label : "");
    ch_metric_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.struct_size = sizeof desc;
    desc.kind = kind;
    desc.name = str_of(name);
    desc.help = str_of("Test metric of the C driver.");
    desc.label_names = label ? &label_name : NULL;
    desc.label_count = label ? 1 : 0;
    desc.buckets = buckets;
    desc.bucket_count = bucket_count;
    return m->register_metric(m->ctx, &desc, out, error);
}

static ch_status setup_metrics(struct ch_instance_set *set, const ch_instance_set_args *args,
                               ch_error *error) {
    static const double vcpu_buckets[] = {1, 2, 4, 8};
    ch_metric *creates = NULL, *vcpus = NULL, *instances = NULL;
    ch_str small = str_of("small");
    ch_status st;
    if (!CH_HAS_MEMBER(args, ch_instance_set_args, metrics) || !args->metrics)
        return CH_OK;
    set->metrics = args->metrics;
    if (args->config_json.len >= 4 && memcmp(args->config_json.data, "bad:", 4) == 0) {
        char spec[256], *label;
        size_t n = args->config_json.len - 4 < sizeof spec - 1 ? args->config_json.len - 4
                                                               : sizeof spec - 1;
        ch_metric *ignored = NULL;
        memcpy(spec, args->config_json.data + 4, n);
        spec[n] = '\0';
        label = strchr(spec, ':');
        if (label)
            *label++ = '\0';
        return register_one(set->metrics, CH_METRIC_COUNTER, spec, label, NULL, 0, &ignored, error);
    }
    if ((st = register_one(set->metrics, CH_METRIC_COUNTER, "creates_total", "instance_type", NULL,
                           0, &creates, error)) != CH_OK ||
        (st = register_one(set->metrics, CH_METRIC_HISTOGRAM, "create_vcpus", NULL, vcpu_buckets, 4,
                           &vcpus, error)) != CH_OK ||
        (st = register_one(set->metrics, CH_METRIC_GAUGE, "instances", NULL, NULL, 0, &instances,
                           error)) != CH_OK)
        return st;
    if ((st = set->metrics->series(set->metrics->ctx, creates, &small, 1, &set->creates, error)) !=
            CH_OK ||
        (st = set->metrics->series(set->metrics->ctx, vcpus, NULL, 0, &set->vcpus, error)) !=
            CH_OK ||
        (st = set->metrics->series(set->metrics->ctx, instances, NULL, 0, &set->instances,
                                   error)) != CH_OK)
        return st;
    return CH_OK;
}
#endif

static ch_status set_new(const ch_instance_set_args *args, ch_instance_set **out, ch_error *error) {
    struct ch_instance_set *set = calloc(1, sizeof *set);
    if (!set)
        return ch_error_set(error, CH_ERR_GENERIC, "out of memory");
#ifndef METRICS_DRIVER_OLD_HEADER
    {
        ch_status st = setup_metrics(set, args, error);
        if (st != CH_OK) {
            free(set);
            return st;
        }
    }
#else
    (void)args;
#endif
    *out = set;
    return CH_OK;
}

static void set_stop(ch_instance_set *set) {
    (void)set;
}

static void set_free(ch_instance_set *set) {
    free(set);
}

static ch_status create(ch_instance_set *set, const ch_create_args *args,
                        const ch_instance_sink *out, ch_error *error) {
    static unsigned long next_id; /* called from many threads: atomic increment */
    struct ch_instance *instance = calloc(1, sizeof *instance);
    ch_instance_desc desc;
    size_t n = args->instance_type->provider_type.len;
    if (!instance)
        return ch_error_set(error, CH_ERR_GENERIC, "out of memory");
    instance->set = set;
    snprintf(instance->id, sizeof instance->id, "i-%lu",
             __atomic_add_fetch(&next_id, 1ul, __ATOMIC_RELAXED));
    if (n > sizeof instance->provider_type - 1)
        n = sizeof instance->provider_type - 1;
    memcpy(instance->provider_type, args->instance_type->provider_type.data, n);
#ifndef METRICS_DRIVER_OLD_HEADER
    if (set->metrics) {
        set->metrics->add(set->metrics->ctx, set->creates, 1);
        set->metrics->observe(set->metrics->ctx, set->vcpus, args->instance_type->vcpus);
        set->metrics->add(set->metrics->ctx, set->instances, 1);
    }
#endif
    memset(&desc, 0, sizeof desc);
    desc.struct_size = sizeof desc;
    desc.id = str_of(instance->id);
    desc.provider_type = str_of(instance->provider_type);
    desc.tags = args->tags;
    out->put(out->ctx, instance, &desc);
    return CH_OK;
}

static ch_status instances(ch_instance_set *set, ch_tags filter, const ch_instance_sink *out,
                           ch_error *error) {
    (void)set;
    (void)filter;
    (void)out;
    (void)error;
    return CH_OK;
}

static void instance_release(ch_instance *instance) {
    free(instance);
}

static ch_status instance_tags(ch_instance *instance, const ch_tags_sink *out, ch_error *error) {
    (void)instance;
    (void)out;
    (void)error;
    return CH_OK;
}

static ch_status instance_set_tags(ch_instance *instance, ch_tags tags, ch_error *error) {
    (void)instance;
    (void)tags;
    (void)error;
    return CH_OK;
}

static ch_status instance_destroy(ch_instance *instance, ch_error *error) {
    (void)error;
#ifndef METRICS_DRIVER_OLD_HEADER
    if (instance->set->metrics)
        instance->set->metrics->add(instance->set->metrics->ctx, instance->set->instances, -1);
#else
    (void)instance;
#endif
    return CH_OK;
}

static ch_status put_string(const ch_string_sink *out, const char *s) {
    out->put(out->ctx, str_of(s));
    return CH_OK;
}

static ch_status instance_address(ch_instance *instance, const ch_string_sink *out,
                                  ch_error *error) {
    (void)instance;
    (void)error;
    return put_string(out, "");
}

static ch_status instance_remote_user(ch_instance *instance, const ch_string_sink *out,
                                      ch_error *error) {
    (void)instance;
    (void)error;
    return put_string(out, "root");
}

static const ch_driver_v1 table = {
    sizeof(ch_driver_v1),
    set_new,
    set_stop,
    set_free,
    create,
    instances,
    NULL, /* instance_quota_group */
    instance_release,
    NULL, /* instance_string */
    instance_tags,
    instance_set_tags,
    instance_destroy,
    instance_address,
    instance_remote_user,
    NULL, /* instance_verify_host_key */
    NULL, /* instance_price_history */
};

CH_DRIVER_ENTRY(request, reply) {
    static const void *const tables[] = {&table};
    return ch_negotiate(request, reply, 1, 1, tables);
}

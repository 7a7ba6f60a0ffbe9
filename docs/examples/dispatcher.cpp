// A minimal dispatcher: opens driver NAME from DIR through libcloudhost,
// creates an instance, finds it by tag, retags it, destroys it. Built out of
// tree by tests/out-of-tree/run.sh with only
//   c++ -std=c++20 dispatcher.cpp $(pkg-config --cflags --libs cloudhost)
// including only the umbrella header.
// and run against the out-of-tree drivers (the C example keeps its cloud in
// memory, so only one process can see a whole instance life).
//
// Usage: dispatcher DRIVER_DIR DRIVER_NAME CONFIG_JSON CACHE_DIR
#include <cloudhost/cloudhost.hpp> // the whole public API; nothing internal

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace {

// Fails the run with a message naming the step that went wrong.
void expect(bool condition, const char *step) {
    if (!condition)
        throw std::runtime_error(std::string("dispatcher: ") + step);
}

void run(const char *driver_dir, const char *driver_name, const char *config_json,
         const char *cache_dir) {
    cloudhost::CatalogOptions catalog_options; // defaults: strict permissions, allow-all trust
    catalog_options.dirs = {driver_dir};
    catalog_options.cache_dir = cache_dir;
    auto library = cloudhost::Catalog(catalog_options).load(driver_name);

    cloudhost::InstanceSetOptions options;
    options.config_json = config_json;
    options.instance_set_id = "zzzzz-zzzzz-outoftreedriver";
    options.shared_resource_tags = {{"owner", "out-of-tree-test"}};
    auto set = cloudhost::InstanceSet::open(library, options);

    cloudhost::InstanceType type;
    type.name = "small";
    type.provider_type = "small";
    auto created = set.create(type, "image-1", {{"role", "worker"}}, "", std::nullopt);

    auto found = set.instances({{"role", "worker"}});
    expect(found.size() == 1 && found[0].id() == created.id(), "instances(role=worker)");
    expect(found[0].tags().count("owner") == 1, "SharedResourceTags merged into Create tags");

    found[0].set_tags({{"role", "retired"}});
    expect(set.instances({{"role", "worker"}}).empty(), "set_tags replaced the tags");

    created.destroy();
    expect(set.instances().empty(), "destroy");
    std::printf("%s: create, instances, set_tags, destroy ok (%s)\n", driver_name,
                created.id().c_str());
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s DRIVER_DIR DRIVER_NAME CONFIG_JSON CACHE_DIR\n", argv[0]);
        return 2;
    }
    try {
        run(argv[1], argv[2], argv[3], argv[4]);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}

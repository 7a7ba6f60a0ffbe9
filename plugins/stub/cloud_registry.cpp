// The registry of in-memory stub clouds. Namespace-scope objects (not
// function-local statics of inline functions, which g++ would make
// STB_GNU_UNIQUE and so share between two loaded copies of the driver): each
// loaded copy has its own clouds, and they are destroyed when that copy is
// unloaded. File-backed clouds need no registry: their state is on disk.
#include "file_cloud.hpp"
#include "stub_cloud.hpp"

#include <map>
#include <mutex>

namespace cloudhost::stub {
namespace {

std::mutex registry_mutex;
std::map<std::string, std::shared_ptr<MemoryCloud>, std::less<>> clouds;

std::shared_ptr<MemoryCloud> memory_cloud_named(const std::string &name) {
    std::lock_guard lock(registry_mutex);
    auto &cloud = clouds[name];
    if (!cloud)
        cloud = std::make_shared<MemoryCloud>();
    return cloud;
}

} // namespace

std::shared_ptr<StubCloud> open_cloud(const StubConfig &config) {
    if (!config.state_dir.empty())
        return std::make_shared<FileCloud>(std::filesystem::path(config.state_dir) / config.cloud);
    return memory_cloud_named(config.cloud);
}

} // namespace cloudhost::stub

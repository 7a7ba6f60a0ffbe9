// The registry of stub clouds. Namespace-scope objects (not function-local
// statics of inline functions, which g++ would make STB_GNU_UNIQUE and so
// share between two loaded copies of the driver): each loaded copy has its
// own clouds, and they are destroyed when that copy is unloaded.
#include "stub_cloud.hpp"

#include <map>
#include <mutex>

namespace cloudhost::stub {
namespace {

std::mutex registry_mutex;
std::map<std::string, std::shared_ptr<StubCloud>, std::less<>> clouds;

} // namespace

std::shared_ptr<StubCloud> cloud_named(const std::string &name) {
    std::lock_guard lock(registry_mutex);
    auto &cloud = clouds[name];
    if (!cloud)
        cloud = std::make_shared<StubCloud>();
    return cloud;
}

} // namespace cloudhost::stub

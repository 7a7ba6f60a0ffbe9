#include "cloudhost/driver_library.hpp"

#include "cloudhost/errors.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>

namespace cloudhost {
namespace {

std::atomic<bool> keep_loaded{[] {
    const char *v = std::getenv("CLOUDHOST_KEEP_LOADED");
    return v && *v && std::strcmp(v, "0") != 0;
}()};

// Set once the process has begun to exit: from then on no library is
// unloaded, since a driver thread that was never joined may still run its
// code until the process is gone.
std::atomic<bool> process_exiting{false};

void note_process_exit() {
    // Registered at the first open: runs before the destructors of static
    // objects that existed then (a global holding a library).
    static const bool registered = [] {
        return std::atexit([] { process_exiting = true; }) == 0;
    }();
    (void)registered;
}

// Every load and unload of a driver goes through this lock. ld.so serialises
// dlopen/dlclose with its own lock already, so this costs nothing; holding
// ours too lets ThreadSanitizer see that order: a library unmapped by one
// thread (its static destructors run) and mapped again at the same address
// by another (its statics constructed anew) is then no "race" on the memory.
std::mutex &loader_mutex() {
    static std::mutex mutex;
    return mutex;
}

// dlerror() is thread-local and overwritten by the next dl* call: copy it.
std::string take_dlerror() {
    const char *e = dlerror();
    return e ? e : "unknown dynamic loader error";
}

// Same file on disk? dladdr reports the path the object was opened with.
bool same_file(const char *a, const std::filesystem::path &b) {
    std::error_code ec;
    return a && std::filesystem::equivalent(a, b, ec) && !ec;
}

} // namespace

void DriverLibrary::set_keep_loaded(bool keep) noexcept {
    keep_loaded = keep;
}

std::shared_ptr<DriverLibrary> DriverLibrary::open(const std::filesystem::path &path,
                                                   DriverInfo info, std::string sha256) {
    const std::string where = path.string() + ": ";
    note_process_exit();
    void *handle = nullptr;
    std::string load_error;
    {
        const std::lock_guard lock(loader_mutex());
        dlerror();
        handle = dlopen(path.c_str(), RTLD_LOCAL | RTLD_NOW);
        if (!handle)
            load_error = take_dlerror();
    }
    if (!handle)
        throw LoadError(where + "load failed: " + load_error);

    std::shared_ptr<DriverLibrary> lib(new DriverLibrary);
    lib->path_ = path;
    lib->sha256_ = std::move(sha256);
    lib->info_ = std::move(info);
    lib->handle_ = handle; // from here on the destructor closes it

    dlerror();
    void *sym = dlsym(handle, CH_DRIVER_ENTRY_SYMBOL);
    if (!sym)
        throw LoadError(where + "no entry point " CH_DRIVER_ENTRY_SYMBOL ": " + take_dlerror());
    // dlsym searches the dependency tree too (p11-kit d1d4b0a): make sure the
    // entry point is the driver's own.
    Dl_info where_defined{};
    if (!dladdr(sym, &where_defined) || !same_file(where_defined.dli_fname, path))
        throw LoadError(where + "entry point " CH_DRIVER_ENTRY_SYMBOL " is defined by " +
                        (where_defined.dli_fname ? where_defined.dli_fname : "another object") +
                        ", not by the driver");

    auto entry = reinterpret_cast<ch_driver_entry_fn>(sym);
    ch_entry_request request{sizeof request, CH_ABI_VERSION_MIN, CH_ABI_VERSION_CURRENT};
    ch_entry_reply reply{sizeof reply, 0, nullptr};
    const ch_status status = entry(&request, &reply);
    if (status != CH_OK)
        throw LoadError(where + "ABI negotiation refused: the host speaks versions " +
                        std::to_string(CH_ABI_VERSION_MIN) + ".." +
                        std::to_string(CH_ABI_VERSION_CURRENT) + ", the driver " +
                        std::to_string(lib->info_.abi_min) + ".." +
                        std::to_string(lib->info_.abi_max));
    if (reply.abi_version < CH_ABI_VERSION_MIN || reply.abi_version > CH_ABI_VERSION_CURRENT)
        throw LoadError(where + "ABI negotiation answered version " +
                        std::to_string(reply.abi_version) + ", outside the host's range " +
                        std::to_string(CH_ABI_VERSION_MIN) + ".." +
                        std::to_string(CH_ABI_VERSION_CURRENT));
    if (!reply.table)
        throw LoadError(where + "ABI negotiation answered version " +
                        std::to_string(reply.abi_version) +
                        " without a function table (reply.table is NULL)");

    const auto *table = static_cast<const ch_driver_v1 *>(reply.table);
    if (table->struct_size < offsetof(ch_driver_v1, instance_release) + sizeof(void *))
        throw LoadError(where + "function table too small (" + std::to_string(table->struct_size) +
                        " bytes)");
    // Copy what the driver provides into a zeroed full-size table: slots the
    // driver does not know about read as NULL.
    std::memcpy(&lib->table_, table, std::min<size_t>(table->struct_size, sizeof lib->table_));
    lib->table_.struct_size = sizeof lib->table_;
    if (!lib->table_.instance_set_new || !lib->table_.instance_set_free || !lib->table_.create ||
        !lib->table_.instances || !lib->table_.instance_release)
        throw LoadError(where + "function table lacks a required function");
    lib->abi_version_ = reply.abi_version;
    return lib;
}

std::shared_ptr<DriverLibrary> DriverLibrary::unmapped(const std::filesystem::path &path,
                                                       DriverInfo info, std::string sha256) {
    std::shared_ptr<DriverLibrary> lib(new DriverLibrary);
    lib->path_ = path;
    lib->sha256_ = std::move(sha256);
    lib->info_ = std::move(info);
    return lib;
}

void DriverLibrary::keep_while_mapped(std::shared_ptr<const void> object) {
    const std::lock_guard lock(kept_mutex_);
    kept_.push_back(std::move(object));
}

DriverLibrary::~DriverLibrary() {
    if (!handle_)
        return; // no code of it in this process: kept_ goes now
    if (!keep_loaded && !process_exiting) {
        const std::lock_guard lock(loader_mutex());
        dlclose(handle_);
        return; // kept_ goes with the code that could reach it
    }
    // The code stays mapped: so does what it may still reach, in a list
    // that is never destroyed (not even by exit's static destructors).
    static auto *const forever = new std::vector<std::shared_ptr<const void>>;
    static std::mutex forever_mutex;
    const std::lock_guard lock(forever_mutex);
    std::move(kept_.begin(), kept_.end(), std::back_inserter(*forever));
}

bool process_exit_began() noexcept {
    return process_exiting.load();
}

bool is_library_loaded(const std::filesystem::path &path) {
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h)
        return false;
    dlclose(h);
    return true;
}

} // namespace cloudhost

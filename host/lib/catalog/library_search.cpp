#include "library_search.hpp"

#include <elf.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

namespace cloudhost::detail {
namespace {

namespace fs = std::filesystem;

#if defined(__x86_64__)
constexpr const char *multiarch = "x86_64-linux-gnu";
constexpr uint16_t host_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr const char *multiarch = "aarch64-linux-gnu";
constexpr uint16_t host_machine = EM_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr const char *multiarch = "riscv64-linux-gnu";
constexpr uint16_t host_machine = EM_RISCV;
#elif defined(__powerpc64__)
constexpr const char *multiarch = "powerpc64le-linux-gnu";
constexpr uint16_t host_machine = EM_PPC64;
#elif defined(__s390x__)
constexpr const char *multiarch = "s390x-linux-gnu";
constexpr uint16_t host_machine = EM_S390;
#else
#error "unsupported host machine"
#endif

std::vector<fs::path> split_dirs(std::string_view list, std::string_view separators) {
    std::vector<fs::path> out;
    size_t start = 0;
    while (start < list.size()) {
        const size_t end = std::min(list.find_first_of(separators, start), list.size());
        if (end > start)
            out.emplace_back(list.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// ld.so skips candidates of the wrong class or machine and keeps searching.
bool is_loadable_library(const fs::path &candidate) {
    const int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return false;
    struct stat st {};
    Elf64_Ehdr header{};
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    ::pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header);
    ::close(fd);
    return ok && std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 &&
           header.e_ident[EI_CLASS] == ELFCLASS64 && header.e_ident[EI_DATA] == ELFDATA2LSB &&
           header.e_machine == host_machine;
}

bool uses_origin(const std::string &text) {
    return text.find("$ORIGIN") != std::string::npos || text.find("${ORIGIN}") != std::string::npos;
}

// $ORIGIN / ${ORIGIN}; other dynamic string tokens are left as they are.
std::string expand_origin(std::string dir, const fs::path &origin) {
    for (const char *token : {"${ORIGIN}", "$ORIGIN"}) {
        const std::string t = token;
        for (size_t pos = dir.find(t); pos != std::string::npos;
             pos = dir.find(t, pos + origin.native().size()))
            dir.replace(pos, t.size(), origin.native());
    }
    return dir;
}

void read_conf(const fs::path &conf, int depth, std::vector<fs::path> &out) {
    if (depth > 8) // include loops
        return;
    std::ifstream in(conf);
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        const auto words = split_dirs(line, " \t\r");
        if (words.empty())
            continue;
        if (words[0] == "include") {
            for (size_t i = 1; i < words.size(); ++i) {
                fs::path pattern = words[i];
                if (pattern.is_relative())
                    pattern = conf.parent_path() / pattern;
                glob_t matches{};
                if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
                    for (size_t j = 0; j < matches.gl_pathc; ++j) // glob sorts
                        read_conf(matches.gl_pathv[j], depth + 1, out);
                }
                ::globfree(&matches);
            }
        } else if (words[0] != "hwcap") {
            for (const auto &dir : split_dirs(line, ":, \t\r"))
                out.emplace_back(dir.native().substr(0, dir.native().find('='))); // "dir=TYPE"
        }
    }
}

} // namespace

std::vector<fs::path> read_ld_so_conf(const fs::path &conf) {
    std::vector<fs::path> dirs;
    read_conf(conf, 0, dirs);
    return dirs;
}

LibrarySearch LibrarySearch::from_system() {
    std::vector<fs::path> ld_library_path;
    // ld.so ignores LD_LIBRARY_PATH in secure-execution mode; so do we.
    if (const char *env = secure_getenv("LD_LIBRARY_PATH"))
        ld_library_path = split_dirs(env, ":;");
    std::vector<fs::path> system = read_ld_so_conf("/etc/ld.so.conf");
    const std::string arch = multiarch;
    for (const std::string &dir :
         {"/lib/" + arch, "/usr/lib/" + arch, std::string("/lib64"), std::string("/usr/lib64"),
          std::string("/lib"), std::string("/usr/lib")})
        system.emplace_back(dir);
    return LibrarySearch(std::move(ld_library_path), std::move(system));
}

LibrarySearch::LibrarySearch(std::vector<fs::path> ld_library_path,
                             std::vector<fs::path> system_dirs)
    : ld_library_path_(std::move(ld_library_path)) {
    std::set<fs::path> seen;
    for (auto &dir : system_dirs) {
        if (seen.insert(dir).second)
            system_dirs_.push_back(std::move(dir));
    }
}

LibrarySearch::Found LibrarySearch::found_in(const std::vector<std::string> &dirs,
                                             const std::string &name, const fs::path &origin) {
    Found found = Found::no;
    for (const std::string &dir : dirs) {
        if (!is_loadable_library(fs::path(expand_origin(dir, origin)) / name))
            continue;
        if (!uses_origin(dir))
            return Found::yes;
        found = Found::only_through_origin;
    }
    return found;
}

bool LibrarySearch::found_in_system(const std::string &name) {
    if (auto it = system_lookups_.find(name); it != system_lookups_.end())
        return it->second;
    bool found =
        std::any_of(ld_library_path_.begin(), ld_library_path_.end(),
                    [&](const fs::path &dir) { return is_loadable_library(dir / name); }) ||
        std::any_of(system_dirs_.begin(), system_dirs_.end(),
                    [&](const fs::path &dir) { return is_loadable_library(dir / name); });
    if (!found) {
        // Already loaded under that soname (e.g. found through the host's own
        // RUNPATH)? RTLD_NOLOAD never maps anything nor runs code.
        if (void *handle = dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD)) {
            dlclose(handle);
            found = true;
        }
    }
    system_lookups_.emplace(name, found);
    return found;
}

std::optional<std::string> LibrarySearch::dependency_problem(const DriverElf &elf,
                                                             const fs::path &driver_dir) {
    // Drivers are loaded from a private copy in the cache directory, where
    // $ORIGIN no longer names the driver's directory: a library found only
    // through it would be missing at load time. Say so at scan time.
    const auto origin_only = [&](const std::string &name) {
        return "dependency " + name + " is found only through $ORIGIN (" + driver_dir.string() +
               "), but drivers are loaded from a private copy: install it in a system library "
               "directory or link it statically";
    };
    for (const std::string &name : elf.needed) {
        if (name.find('/') != std::string::npos) { // a path, not searched
            const fs::path p = expand_origin(name, driver_dir);
            if (!is_loadable_library(p.is_relative() ? driver_dir / p : p))
                return "missing dependency " + name;
            if (uses_origin(name))
                return origin_only(name);
            continue;
        }
        bool through_origin = false;
        // DT_RPATH applies only when the object has no DT_RUNPATH.
        if (elf.runpath.empty()) {
            const Found in_rpath = found_in(elf.rpath, name, driver_dir);
            if (in_rpath == Found::yes)
                continue;
            through_origin = in_rpath == Found::only_through_origin;
        }
        if (found_in_system(name))
            continue;
        const Found in_runpath = found_in(elf.runpath, name, driver_dir);
        if (in_runpath == Found::yes)
            continue;
        if (through_origin || in_runpath == Found::only_through_origin)
            return origin_only(name);
        return "missing dependency " + name;
    }
    return std::nullopt;
}

} // namespace cloudhost::detail

// Finding a driver's DT_NEEDED libraries the way ld.so would, without
// loading anything: DT_RPATH (when there is no DT_RUNPATH), LD_LIBRARY_PATH,
// DT_RUNPATH, the directories of /etc/ld.so.conf (ld.so's cache is built
// from them), then the default directories. A library already loaded in this
// process under that name also counts, as it does for ld.so.
#pragma once

#include "cloudhost/internal/elf_metadata.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cloudhost::detail {

class LibrarySearch {
  public:
    // Snapshot of LD_LIBRARY_PATH, ld.so.conf (with its includes) and the
    // default directories. Build one per scan: it caches lookups.
    static LibrarySearch from_system();

    LibrarySearch(std::vector<std::filesystem::path> ld_library_path,
                  std::vector<std::filesystem::path> system_dirs);

    // Why the first DT_NEEDED library of `elf` that cannot be loaded from
    // the driver's private copy would fail, if any: "missing dependency
    // NAME", or a library found only through $ORIGIN. `driver_dir` is what
    // $ORIGIN expands to for the file as installed.
    std::optional<std::string> dependency_problem(const DriverElf &elf,
                                                  const std::filesystem::path &driver_dir);

  private:
    enum class Found { no, yes, only_through_origin };
    Found found_in(const std::vector<std::string> &dirs, const std::string &name,
                   const std::filesystem::path &origin);
    bool found_in_system(const std::string &name);

    std::vector<std::filesystem::path> ld_library_path_;
    std::vector<std::filesystem::path> system_dirs_;
    std::map<std::string, bool> system_lookups_; // name -> found
};

// Directories named by an ld.so.conf file, following `include` globs
// (relative patterns are relative to the including file's directory).
std::vector<std::filesystem::path> read_ld_so_conf(const std::filesystem::path &conf);

} // namespace cloudhost::detail

// The drivers we ship export exactly the two ABI symbols and no
// STB_GNU_UNIQUE symbol (which would keep them mapped after dlclose).
// Uses binutils' nm and readelf on the built files.
#include "cloudhost/internal/access.hpp"
#include "raw_driver.hpp"

#include <cstdio>
#include <set>
#include <sstream>

using namespace abi_test;

namespace {

std::string run(const std::string &command) {
    std::string output;
    FILE *pipe = popen(command.c_str(), "r");
    REQUIRE_MESSAGE(pipe != nullptr, command);
    char buffer[4096];
    size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
        output.append(buffer, n);
    REQUIRE_MESSAGE(pclose(pipe) == 0, command);
    return output;
}

// Names of the defined dynamic symbols ("address type name" lines).
std::set<std::string> exported_symbols(const std::filesystem::path &so) {
    std::istringstream lines(run("nm -D --defined-only '" + so.string() + "'"));
    std::set<std::string> names;
    std::string address, type, name;
    while (lines >> address >> type >> name)
        // AddressSanitizer adds an ODR indicator per exported global.
        if (name.rfind("__odr_asan.", 0) != 0)
            names.insert(name);
    return names;
}

} // namespace

TEST_CASE("shipped drivers export exactly the two ABI symbols and nothing UNIQUE") {
    for (const char *driver : {"stub", "example", "loopback"}) {
        CAPTURE(driver);
        const auto so = built_driver(driver);
        REQUIRE(std::filesystem::exists(so));
        CHECK(exported_symbols(so) ==
              std::set<std::string>{CH_DRIVER_INFO_SYMBOL, CH_DRIVER_ENTRY_SYMBOL});
        const std::string symbols = run("readelf -s --dyn-syms -W '" + so.string() + "'");
        CHECK(symbols.find("UNIQUE") == std::string::npos);
    }
}

TEST_CASE("drivers unmap when the last reference goes, after real use") {
    for (const char *driver : {"stub", "example"}) {
        CAPTURE(driver);
        const auto so = built_driver(driver);
        REQUIRE_FALSE(cloudhost::is_library_loaded(so));
        {
            auto lib = open_driver(driver);
            const ch_driver_v1 &t = cloudhost::detail::driver_table(*lib);
            CHECK(cloudhost::is_library_loaded(so));
            RawSet set(t, "{}", nullptr);
            REQUIRE(set.status() == CH_OK);
            InstanceCollector out;
            CallError error;
            REQUIRE(set.create(TypeArg("small", 1), Tags{{"a", "b"}}, out, error) == CH_OK);
            REQUIRE(set.instances({}, out, error) == CH_OK);
            release_all(t, out);
        } // set stopped and freed, then the library closed
        CHECK_FALSE(cloudhost::is_library_loaded(so));
    }
}

// Prints whether the kernel marked this exec secure (AT_SECURE) and which
// driver directories the CLI's own driver_path_from_environment() takes
// from CLOUDHOST_DRIVER_PATH. elevated_test.cpp runs it setuid. Built with
// the bare compiler (no sanitizer, no libcloudhost): a setuid process
// ignores LD_LIBRARY_PATH and $ORIGIN, and loses the no-ASLR personality
// ThreadSanitizer runs need.
#include "cli_context.hpp"

#include <sys/auxv.h>

#include <cstdio>

int main() {
    std::printf("at_secure=%lu\n", getauxval(AT_SECURE));
    const auto dirs = cloudhost::cli::driver_path_from_environment();
    if (!dirs)
        std::printf("driver_path=unset\n");
    else
        for (const auto &dir : *dirs)
            std::printf("dir=%s\n", dir.c_str());
    return 0;
}

// Live heap bytes of the whole process, counted by replacing the global
// operator new/delete in cloudhost-bench (drivers and libcloudhost resolve
// operator new to the executable's definition).
#pragma once

#include <cstdint>

namespace cloudhost::bench {
int64_t live_heap_bytes();
}

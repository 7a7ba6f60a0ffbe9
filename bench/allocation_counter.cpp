#include "allocation_counter.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<int64_t> live_bytes{0};

void *counted_alloc(std::size_t n) {
    void *p = std::malloc(n ? n : 1);
    if (!p)
        throw std::bad_alloc();
    live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    return p;
}

void counted_free(void *p) noexcept {
    if (!p)
        return;
    live_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    std::free(p);
}
} // namespace

namespace cloudhost::bench {
int64_t live_heap_bytes() {
    return live_bytes.load();
}
} // namespace cloudhost::bench

void *operator new(std::size_t n) {
    return counted_alloc(n);
}
void *operator new[](std::size_t n) {
    return counted_alloc(n);
}
void operator delete(void *p) noexcept {
    counted_free(p);
}
void operator delete[](void *p) noexcept {
    counted_free(p);
}
void operator delete(void *p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete[](void *p, std::size_t) noexcept {
    counted_free(p);
}

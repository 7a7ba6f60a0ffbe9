// How the host reports a driver helper that died of a fatal signal, as a
// test should expect it. Under AddressSanitizer or ThreadSanitizer the
// sanitizer's handler catches the signal in the helper, reports it and exits
// with a status instead of dying by the signal.
#pragma once

#include <string>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CLOUDHOST_TEST_SANITIZER_CATCHES_SIGNALS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CLOUDHOST_TEST_SANITIZER_CATCHES_SIGNALS 1
#endif

namespace test_support {

// Whether `what` reports the fatal signal (`signal_words`, e.g. "signal 11"
// or "killed by signal"), or, under a sanitizer, an exit with a status.
inline bool reports_fatal_signal(const std::string &what, const std::string &signal_words) {
#ifdef CLOUDHOST_TEST_SANITIZER_CATCHES_SIGNALS
    if (what.find("status") != std::string::npos)
        return true;
#endif
    return what.find(signal_words) != std::string::npos;
}

} // namespace test_support

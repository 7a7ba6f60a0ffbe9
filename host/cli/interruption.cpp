#include "interruption.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace cloudhost::cli {
namespace {

std::atomic<int> stored_signal{0};
std::atomic<bool> reload_requested{false};
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);

struct sigaction previous_int {};
struct sigaction previous_term {};
struct sigaction previous_hup {};

extern "C" void on_interruption(int signal_number) {
    int none = 0;
    if (!stored_signal.compare_exchange_strong(none, signal_number))
        _exit(128 + signal_number); // the second one: at once
}

extern "C" void on_hangup(int) {
    reload_requested.store(true);
}

void install(int signal_number, void (*handler)(int), struct sigaction *previous) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(signal_number, &action, previous);
}

} // namespace

InterruptionGuard::InterruptionGuard(bool hangup) : hangup_(hangup) {
    stored_signal.store(0);
    reload_requested.store(false);
    install(SIGINT, on_interruption, &previous_int);
    install(SIGTERM, on_interruption, &previous_term);
    if (hangup_)
        install(SIGHUP, on_hangup, &previous_hup);
}

InterruptionGuard::~InterruptionGuard() {
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
    if (hangup_)
        sigaction(SIGHUP, &previous_hup, nullptr);
}

int interrupting_signal() noexcept {
    return stored_signal.load();
}

bool take_reload_request() noexcept {
    return reload_requested.exchange(false);
}

const char *signal_name(int signal_number) noexcept {
    switch (signal_number) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "signal";
    }
}

} // namespace cloudhost::cli

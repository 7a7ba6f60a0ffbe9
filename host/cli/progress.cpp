#include "progress.hpp"
#include "interruption.hpp"

#include "cloudhost/poll_until.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

namespace cloudhost::cli {
namespace {

constexpr const char *erase_line = "\r\033[K";

// Columns of the terminal on stderr, so that a status line never wraps (a
// wrapped line cannot be rewritten in place).
std::size_t terminal_columns() {
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

} // namespace

std::string format_seconds(double seconds) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(2) << seconds << "s";
    return out.str();
}

Progress::Progress(std::ostream &out, bool enabled, bool terminal)
    : out_(&out), enabled_(enabled), terminal_(terminal) {}

Progress Progress::on_terminal(bool json) {
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    return Progress(std::cerr, terminal && !json, terminal);
}

Progress::~Progress() {
    end_status();
}

void Progress::end_status() {
    if (enabled_ && status_open_)
        *out_ << "\n" << std::flush;
    status_open_ = false;
}

void Progress::clear_status() {
    if (status_open_)
        *out_ << erase_line;
    status_open_ = false;
}

void Progress::line(const std::string &message) {
    if (!enabled_)
        return;
    clear_status();
    *out_ << message + "\n" << std::flush; // whole: log records share the stream
    last_status_.clear();
}

void Progress::status(const std::string &message, double elapsed_seconds) {
    if (!enabled_)
        return;
    if (!terminal_) { // a log, not a display: one line per change, no clock
        if (message != last_status_)
            *out_ << message + "\n" << std::flush;
        last_status_ = message;
        return;
    }
    std::string text = "[" + std::to_string(static_cast<long>(elapsed_seconds)) + "s] " + message;
    std::replace(text.begin(), text.end(), '\n', ' '); // one row, or \r cannot rewrite it
    const std::size_t width = terminal_columns() - 1;
    *out_ << erase_line + (text.size() > width ? text.substr(0, width) : text) << std::flush;
    status_open_ = true;
}

WaitResult wait_with_progress(Progress &progress, const std::string &what,
                              std::chrono::milliseconds timeout, std::chrono::milliseconds interval,
                              const std::function<bool(std::string &detail)> &attempt) {
    WaitResult result;
    const auto start = std::chrono::steady_clock::now();
    const PollResult polled = poll_until(
        timeout, interval,
        [&] {
            std::string detail;
            if (attempt(detail))
                return true;
            result.last_detail = detail;
            return false;
        },
        [&](std::chrono::milliseconds pause) {
            using Clock = std::chrono::steady_clock;
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            progress.status(what + (result.last_detail.empty() ? "" : ": " + result.last_detail),
                            elapsed);
            // Sleeps in short slices: an interruption ends the wait promptly.
            const auto next = Clock::now() + pause;
            while (Clock::now() < next) {
                if (interrupting_signal() != 0) {
                    result.interrupted = true;
                    return false;
                }
                std::this_thread::sleep_for(
                    std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(50)));
            }
            return true;
        });
    result.done = polled.done;
    result.seconds = std::chrono::duration<double>(polled.waited).count();
    return result;
}

} // namespace cloudhost::cli

#include "set_context.hpp"

#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cloudhost::stub {
namespace {

[[noreturn]] void throw_foreign_exception(Op op) {
    // Deliberately not sdk::Error: proves the SDK's guard catches anything.
    switch (op) {
    case Op::create:
        throw std::logic_error("stub: thrown logic_error");
    case Op::instances:
        throw 42;
    default:
        throw std::runtime_error(std::string("stub: thrown runtime_error in ") + op_name(op));
    }
}

} // namespace

void SetContext::check_api_token() const {
    if (!config.api_token)
        return;
    std::ifstream tokens(config.state_dir + "/valid_tokens");
    std::string line;
    // Bounded: a cloud's token list is short; a huge file revokes everything.
    for (int n = 0; n < 1000 && std::getline(tokens, line); ++n)
        if (line == *config.api_token)
            return;
    throw sdk::Error("stub: api_token is not valid (not listed in " + config.state_dir +
                     "/valid_tokens)");
}

SetContext::SetContext(StubConfig config_in, sdk::Logger logger_in, const sdk::Metrics &metrics_in)
    : config(std::move(config_in)), logger(logger_in), metrics(metrics_in),
      cloud(open_cloud(config)),
      hold(config.hold_fifo.empty() ? nullptr : std::make_unique<HoldFifo>(config.hold_fifo)),
      faults(config.seed) {}

void SetContext::enter(Op op) const {
    logger.debug("stub call", {{"op", op_name(op)}});
    check_api_token();
    if (config.throw_in[static_cast<std::size_t>(op)])
        throw_foreign_exception(op);
}

} // namespace cloudhost::stub

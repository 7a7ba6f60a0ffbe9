#include "binding.hpp"

#include "abi_convert.hpp"
#include "abi_errors.hpp"
#include "cloudhost/errors.hpp"

namespace cloudhost::detail {

Binding::Binding(std::shared_ptr<DriverLibrary> library, std::shared_ptr<spdlog::logger> logger)
    : library_(std::move(library)), table_(library_->table()),
      logger_(std::move(logger), library_->info().name) {}

std::shared_ptr<Binding> Binding::open(std::shared_ptr<DriverLibrary> library,
                                       const BindingArgs &args) {
    auto binding = std::make_shared<Binding>(std::move(library), args.logger);
    const TagsView shared_tags(args.shared_resource_tags);
    ch_instance_set_args c_args{};
    c_args.struct_size = sizeof c_args;
    c_args.config_json = to_ch_str(args.config_json);
    c_args.instance_set_id = to_ch_str(args.instance_set_id);
    c_args.shared_resource_tags = shared_tags.get();
    c_args.logger = binding->logger_.c_logger();
    binding->metrics_ = std::make_unique<DriverMetricsService>(
        args.metrics_registry, binding->library_->info().name, args.instance_set_id);
    c_args.metrics = binding->metrics_->c_metrics();
    ErrorRecord error;
    ch_instance_set *set = nullptr;
    const ch_status status = binding->table_.instance_set_new(&c_args, &set, error.get());
    check(status, error.c, "instance_set_new");
    if (!set)
        throw DriverError("instance_set_new: driver reported success without an instance set");
    binding->set_ = set;
    return binding;
}

void Binding::stop() noexcept {
    if (!set_ || stopped_.exchange(true))
        return;
    if (table_.instance_set_stop)
        table_.instance_set_stop(set_);
}

Binding::~Binding() {
    if (!set_)
        return;
    stop();
    table_.instance_set_free(set_);
}

} // namespace cloudhost::detail

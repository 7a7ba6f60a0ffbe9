// cloudhost tag ID K=V...: set tags (merged into the current ones, as the
// Arvados pool sends the full set to SetTags).
#include "../commands.hpp"
#include "cloudhost/tag_rules.hpp"

namespace cloudhost::cli {
namespace {
struct TagFlags {
    std::string id;
    std::vector<std::string> tags;
};
} // namespace

Command add_tag_command(CLI::App &app, CliContext &context) {
    auto *sub = app.add_subcommand("tag", "Set tags on an instance");
    auto f = std::make_shared<TagFlags>();
    sub->add_option("id", f->id, "Instance id")->required();
    sub->add_option("tags", f->tags, "K=V pairs")->required();
    return {sub, [&context, f] {
                Tags updates = parse_tags(f->tags, "tag");
                const std::string &prefix = context.config().tag_key_prefix;
                for (const auto &[k, v] : updates)
                    if (k == prefix + "InstanceSetID" || k == prefix + "InstanceSecret")
                        throw UsageError("tag: \"" + k + "\" is managed by cloudhost");
                Instance instance = context.find_instance(f->id);
                Tags tags = instance.tags();
                for (const auto &[k, v] : updates)
                    tags[k] = v;
                // Each item was valid; together with the current tags they
                // may be too many (SetTags would refuse them the same way).
                if (auto problem = tag_count_problem(tags.size()))
                    throw UsageError("tag: with the instance's current tags, " + *problem);
                instance.set_tags(tags);
                return int(exit_ok);
            }};
}

} // namespace cloudhost::cli

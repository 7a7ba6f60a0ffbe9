#include "ec2_instance_set.hpp"

#include "crypto.hpp"
#include "key_fingerprint.hpp"
#include "quota_group.hpp"

#include <cmath>
#include <optional>
#include <set>

namespace cloudhost::ec2 {
namespace {

constexpr uint64_t gib = 1ull << 30;
constexpr int max_list_pages = 10'000; // 10,000 pages of up to 1,000 instances
constexpr const char *scratch_device = "/dev/xvdt";
constexpr auto address_refresh_interval = std::chrono::seconds(1);

void add_tags(QueryParams &params, const std::string &prefix, const sdk::Tags &tags) {
    int n = 0;
    for (const auto &[key, value] : tags) {
        ++n;
        params.add(prefix + std::to_string(n) + ".Key", key);
        params.add(prefix + std::to_string(n) + ".Value", value);
    }
}

std::string format_price(double price) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.6f", price);
    return buffer;
}

} // namespace

std::string user_data(const std::string &init_command) {
    return base64_encode("#!/bin/sh\n" + init_command + "\n");
}

InstanceData parse_instance(const pugi::xml_node &item) {
    InstanceData data;
    data.id = printable(child_text(item, "instanceId"), 64);
    data.instance_type = printable(child_text(item, "instanceType"), 64);
    data.private_ip = printable(child_text(item, "privateIpAddress"), 64);
    data.state = child_text(item.child("instanceState"), "name");
    data.availability_zone = printable(child_text(item.child("placement"), "availabilityZone"), 64);
    data.spot = child_text(item, "instanceLifecycle") == "spot";
    auto tags = std::make_shared<sdk::Tags>();
    for (const pugi::xml_node tag : item.child("tagSet").children("item"))
        tags->insert_or_assign(child_text(tag, "key"), child_text(tag, "value"));
    data.tags = std::move(tags);
    return data;
}

QueryParams run_instances_params(const Ec2Config &config, const sdk::InstanceType &type,
                                 const std::string &image_id, const sdk::Tags &tags,
                                 const std::string &init_command, const std::string &key_name,
                                 const std::string &subnet_id) {
    QueryParams p;
    p.add("ImageId", image_id)
        .add("InstanceType", type.provider_type.empty() ? type.name : type.provider_type)
        .add("MinCount", "1")
        .add("MaxCount", "1")
        .add("UserData", user_data(init_command))
        .add("InstanceInitiatedShutdownBehavior", "terminate")
        .add("DisableApiTermination", "false")
        .add("MetadataOptions.HttpTokens", "required")
        .add("MetadataOptions.HttpEndpoint", "enabled");
    if (!key_name.empty())
        p.add("KeyName", key_name);
    // One interface, no public address, gone with the instance.
    p.add("NetworkInterface.1.DeviceIndex", "0")
        .add("NetworkInterface.1.AssociatePublicIpAddress", "false")
        .add("NetworkInterface.1.DeleteOnTermination", "true");
    if (!subnet_id.empty())
        p.add("NetworkInterface.1.SubnetId", subnet_id);
    for (std::size_t i = 0; i < config.security_group_ids.size(); ++i)
        p.add("NetworkInterface.1.SecurityGroupId." + std::to_string(i + 1),
              config.security_group_ids[i]);
    if (!tags.empty()) {
        p.add("TagSpecification.1.ResourceType", "instance");
        add_tags(p, "TagSpecification.1.Tag.", tags);
        p.add("TagSpecification.2.ResourceType", "volume");
        add_tags(p, "TagSpecification.2.Tag.", tags);
    }
    if (type.added_scratch > 0) {
        const uint64_t size_gib = (type.added_scratch + gib - 1) / gib;
        p.add("BlockDeviceMapping.1.DeviceName", scratch_device)
            .add("BlockDeviceMapping.1.Ebs.VolumeSize", std::to_string(size_gib))
            .add("BlockDeviceMapping.1.Ebs.VolumeType", config.ebs_volume_type)
            .add("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
    }
    if (type.preemptible) {
        p.add("InstanceMarketOptions.MarketType", "spot")
            .add("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate")
            .add("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time");
        if (type.price > 0)
            p.add("InstanceMarketOptions.SpotOptions.MaxPrice", format_price(type.price));
    }
    if (!config.iam_instance_profile.empty())
        p.add("IamInstanceProfile.Name", config.iam_instance_profile);
    return p;
}

// ---- instance ---------------------------------------------------------------

void Ec2Instance::set_tags(const sdk::Tags &tags) {
    if (tags.empty())
        return;
    QueryParams params;
    params.add("ResourceId.1", id_);
    add_tags(params, "Tag.", tags); // adds and overwrites, as Arvados
    try {
        context_->api.call("CreateTags", params);
    } catch (const AwsError &e) {
        throw_typed(e, context_->other_backoff);
    }
    note_success(context_->other_backoff);
    state_->merge_tags(tags);
}

void Ec2Instance::destroy() {
    QueryParams params;
    params.add("InstanceId.1", id_);
    try {
        context_->api.call("TerminateInstances", params);
    } catch (const AwsError &e) {
        if (e.code() == "InvalidInstanceID.NotFound")
            return; // already gone
        throw_typed(e, context_->other_backoff);
    }
    note_success(context_->other_backoff);
    context_->registry.forget_created(id_);
    context_->logger.info("ec2: terminating instance", {{"instance_id", id_}});
}

void Ec2Instance::refresh() const {
    QueryParams params;
    params.add("InstanceId.1", id_);
    try {
        const auto doc = context_->api.call("DescribeInstances", params);
        for (const pugi::xml_node reservation :
             doc->document_element().child("reservationSet").children("item"))
            for (const pugi::xml_node item : reservation.child("instancesSet").children("item"))
                if (child_text(item, "instanceId") == id_)
                    state_->update(parse_instance(item));
    } catch (const std::exception &e) {
        // The caller sees "no address yet" and asks again later.
        context_->logger.debug("ec2: cannot refresh instance",
                               {{"instance_id", id_}, {"error", e.what()}});
    }
}

std::string Ec2Instance::address() const {
    // A booting instance may not have its address yet (the host keeps asking
    // the handle it has): look it up, at most once per second per instance.
    if (state_->get().private_ip.empty() && state_->claim_refresh(address_refresh_interval))
        refresh();
    std::string ip = state_->get().private_ip;
    if (ip.empty())
        return {};
    if (!context_->config.ssh_port)
        return ip;
    const bool ipv6 = ip.find(':') != std::string::npos;
    return (ipv6 ? "[" + ip + "]" : ip) + ":" + std::to_string(*context_->config.ssh_port);
}

std::vector<sdk::InstancePrice> Ec2Instance::price_history(const sdk::InstanceType &type) const {
    const InstanceData data = state_->get();
    if (!data.spot || !context_->spot_prices.enabled())
        return {};
    auto prices = context_->spot_prices.history(data.instance_type, data.availability_zone);
    const double scratch_gib = std::ceil(static_cast<double>(type.added_scratch) / gib);
    const double ebs_hourly = context_->config.ebs_price * scratch_gib / 30 / 24;
    for (auto &p : prices)
        p.price += ebs_hourly;
    return prices;
}

// ---- set ----------------------------------------------------------------------

Ec2InstanceSet::Ec2InstanceSet(Ec2Config config, sdk::Logger logger, sdk::Tags shared_resource_tags)
    : context_(
          std::make_shared<Ec2Context>(std::move(config), logger, std::move(shared_resource_tags))),
      quota_groups_(context_->config.instance_type_quota_groups.empty()
                        ? default_quota_groups()
                        : context_->config.instance_type_quota_groups) {
    logger.info("ec2: instance set ready", {{"endpoint", context_->config.endpoint},
                                            {"region", context_->config.region},
                                            {"credentials", context_->api.credential_origin()}});
}

std::string Ec2InstanceSet::instance_quota_group(const sdk::InstanceType &type) {
    return quota_group(type.provider_type.empty() ? type.name : type.provider_type,
                       type.preemptible, quota_groups_);
}

std::string Ec2InstanceSet::key_pair_for(const std::string &public_key) {
    KeyFingerprint fingerprint;
    try {
        fingerprint = key_fingerprint(public_key);
    } catch (const std::exception &e) {
        throw sdk::Error(std::string("ec2: cannot use the SSH public key: ") + e.what());
    }
    {
        std::lock_guard lock(key_mutex_);
        if (const auto it = key_names_.find(fingerprint.primary); it != key_names_.end())
            return it->second;
    }
    std::string name;
    QueryParams describe;
    describe.add("Filter.1.Name", "fingerprint");
    for (std::size_t i = 0; i < fingerprint.lookup_forms.size(); ++i)
        describe.add("Filter.1.Value." + std::to_string(i + 1), fingerprint.lookup_forms[i]);
    try {
        const auto doc = context_->api.call("DescribeKeyPairs", describe);
        name = child_text(doc->document_element().child("keySet").child("item"), "keyName");
        if (name.empty()) {
            name = key_pair_name(fingerprint);
            QueryParams import;
            import.add("KeyName", name).add("PublicKeyMaterial", base64_encode(public_key));
            if (!context_->shared_resource_tags.empty()) {
                import.add("TagSpecification.1.ResourceType", "key-pair");
                add_tags(import, "TagSpecification.1.Tag.", context_->shared_resource_tags);
            }
            try {
                context_->api.call("ImportKeyPair", import);
                context_->logger.info("ec2: imported key pair", {{"key_name", name}});
            } catch (const AwsError &e) {
                // Another process imported it meanwhile: the name says it is this key.
                if (e.code() != "InvalidKeyPair.Duplicate")
                    throw;
            }
        }
    } catch (const AwsError &e) {
        throw_typed(e, context_->create_backoff);
    }
    std::lock_guard lock(key_mutex_);
    key_names_.emplace(fingerprint.primary, name);
    return name;
}

std::shared_ptr<Ec2Instance> Ec2InstanceSet::run_instance(const sdk::InstanceType &type,
                                                          const std::string &image_id,
                                                          const sdk::Tags &tags,
                                                          const std::string &init_command,
                                                          const std::string &key_name) {
    const auto &subnets = context_->config.subnet_ids;
    const std::size_t attempts = subnets.empty() ? 1 : subnets.size();
    const std::string provider_type = type.provider_type.empty() ? type.name : type.provider_type;
    std::optional<AwsError> last_error, last_capacity_error;
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
        std::size_t index = 0;
        std::string subnet;
        if (!subnets.empty()) {
            index = (subnet_index_.load() + (attempt ? 1 : 0)) % subnets.size();
            subnet = subnets[index];
            subnet_index_.store(index);
        }
        try {
            const auto doc = context_->api.call(
                "RunInstances", run_instances_params(context_->config, type, image_id, tags,
                                                     init_command, key_name, subnet));
            const pugi::xml_node item = doc->document_element().child("instancesSet").child("item");
            if (!item || child_text(item, "instanceId").empty())
                throw AwsError("RunInstances", "", "the response holds no instance", "", 200);
            InstanceData data = parse_instance(item);
            data.tags = std::make_shared<const sdk::Tags>(tags); // the response may omit them
            if (data.instance_type.empty())
                data.instance_type = provider_type;
            data.spot = data.spot || type.preemptible;
            note_success(context_->create_backoff);
            context_->logger.info("ec2: created instance", {{"instance_id", data.id},
                                                            {"instance_type", data.instance_type},
                                                            {"subnet_id", subnet}});
            return std::make_shared<Ec2Instance>(
                context_, context_->registry.record_created(std::move(data)));
        } catch (const AwsError &e) {
            if (subnets.empty() || !is_subnet_specific(e.code(), e.aws_message()))
                throw_typed(e, context_->create_backoff, provider_type);
            context_->logger.warn("ec2: subnet failed, trying the next one",
                                  {{"subnet_id", subnet}, {"error_code", e.code()}});
            last_error = e;
            if (classify(e.code(), e.aws_message(), provider_type) != ErrorClass::other)
                last_capacity_error = e;
        }
    }
    throw_typed(last_capacity_error ? *last_capacity_error : *last_error, context_->create_backoff,
                provider_type);
}

std::shared_ptr<sdk::Instance>
Ec2InstanceSet::create(const sdk::InstanceType &type, const std::string &image_id,
                       const sdk::Tags &tags, const std::string &init_command,
                       const std::optional<std::string> &public_key) {
    if (image_id.empty())
        throw sdk::InvalidConfigError("ec2: no image id (config \"image_id\")");
    const std::string key_name = public_key ? key_pair_for(*public_key) : std::string();
    return run_instance(type, image_id, tags, init_command, key_name);
}

std::vector<std::shared_ptr<sdk::Instance>> Ec2InstanceSet::instances(const sdk::Tags &filter) {
    std::vector<std::shared_ptr<sdk::Instance>> found;
    std::set<std::string> listed_ids;
    std::string next_token;
    int page = 0;
    do {
        if (++page > max_list_pages)
            throw sdk::Error("ec2 DescribeInstances: more than " + std::to_string(max_list_pages) +
                             " pages; giving up");
        QueryParams params;
        int n = 0;
        for (const auto &[key, value] : filter) {
            ++n;
            params.add("Filter." + std::to_string(n) + ".Name", "tag:" + key);
            params.add("Filter." + std::to_string(n) + ".Value.1", value);
        }
        params.add("MaxResults", "1000"); // the largest page AWS serves
        if (!next_token.empty())
            params.add("NextToken", next_token);
        std::unique_ptr<pugi::xml_document> doc;
        try {
            doc = context_->api.call("DescribeInstances", params);
        } catch (const AwsError &e) {
            throw_typed(e, context_->list_backoff);
        }
        const pugi::xml_node root = doc->document_element();
        for (const pugi::xml_node reservation : root.child("reservationSet").children("item"))
            for (const pugi::xml_node item : reservation.child("instancesSet").children("item")) {
                InstanceData data = parse_instance(item);
                if (data.id.empty())
                    continue;
                listed_ids.insert(data.id);
                if (data.state == "shutting-down" || data.state == "terminated")
                    continue;
                found.push_back(std::make_shared<Ec2Instance>(
                    context_, context_->registry.record(std::move(data))));
            }
        const std::string token = child_text(root, "nextToken");
        if (!token.empty() && token == next_token)
            throw sdk::Error("ec2 DescribeInstances: the same nextToken came back twice");
        next_token = token;
    } while (!next_token.empty());
    note_success(context_->list_backoff);
    for (auto &state : context_->registry.unlisted_creates(listed_ids, filter))
        found.push_back(std::make_shared<Ec2Instance>(context_, std::move(state)));
    return found;
}

} // namespace cloudhost::ec2

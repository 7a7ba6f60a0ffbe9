// The ec2 driver against the fake EC2 endpoint (tests/ec2/endpoint):
//  - Instances() of 5,000 instances through the host and ec2.so against the
//    endpoint (Python: its time dominates); then the driver's own share: the
//    same pages, recorded, replayed by an in-process HTTP server, through the
//    driver and host, next to fetching them with curl alone;
//  - calls per TLS handshake with the driver's HTTP client (its sources,
//    linked here: the loaded driver's counters are not reachable);
//  - create -> SSH-ready through the host (boot, instance secret, `true`).
// The endpoint is Python: its time dominates; compare shares, not totals.
#include "bench_registry.hpp"

#include "ec2_api.hpp"
#include "endpoint_process.hpp"

#include "cloudhost/driver_library.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/internal/elf_metadata.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_verifier.hpp"

#include <curl/curl.h>
#include <httplib.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include <chrono>
#include <filesystem>
#include <thread>

namespace cloudhost::bench {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
constexpr int listed_instances = 5000;
constexpr const char *set_id = "zzzzz-zzzzz-zzzzzzzbenchec2";

double ms_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

struct Fixture {
    explicit Fixture(const std::vector<std::string> &args,
                     const std::string &script = "endpoint/run_endpoint.py")
        : dir(fs::temp_directory_path() / ("cloudhost-bench-ec2-" + std::to_string(getpid()))),
          endpoint((fs::create_directories(dir), dir / "endpoint"), args, script) {}
    ~Fixture() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    ec2::Ec2Config config() const { return ec2::parse_config(endpoint.driver_parameters()); }
    InstanceSet open_set() const {
        const fs::path driver = build_root() + "/plugins/ec2/ec2.so";
        InstanceSetOptions options;
        options.instance_set_id = set_id;
        options.config_json = endpoint.driver_parameters();
        return InstanceSet::open(DriverLibrary::open(driver, read_driver_metadata(driver)),
                                 options);
    }
    fs::path dir;
    test::EndpointProcess endpoint;
};

// Serves recorded DescribeInstances pages by NextToken (no signature check).
class ReplayServer {
  public:
    explicit ReplayServer(std::map<std::string, std::string> pages) : pages_(std::move(pages)) {
        server_.Post("/", [this](const httplib::Request &request, httplib::Response &response) {
            std::string token;
            if (const auto at = request.body.find("NextToken="); at != std::string::npos) {
                const std::string encoded =
                    request.body.substr(at + 10, request.body.find('&', at) - at - 10);
                int length = 0;
                char *decoded = curl_easy_unescape(nullptr, encoded.c_str(),
                                                   static_cast<int>(encoded.size()), &length);
                token.assign(decoded, static_cast<std::size_t>(length));
                curl_free(decoded);
            }
            const auto page = pages_.find(token);
            response.status = page == pages_.end() ? 400 : 200;
            // Not a text type: cpp-httplib would compress it (slowly) for curl.
            response.set_content(page == pages_.end() ? "" : page->second,
                                 "application/octet-stream");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 1000 && !server_.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~ReplayServer() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  private:
    std::map<std::string, std::string> pages_; // NextToken ("" first) -> XML
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

std::vector<Result> instances_5000() {
    Fixture f({"--max-instances", "6000", "--no-ssh-servers", "--page-size", "1000", "--list-delay",
               "0", "--pending-delay", "0", "--address-delay", "0"},
              "run_endpoint_many.py");
    ec2::Ec2Api api(f.config(), {});
    // Seed with 20 instances per RunInstances call (not timed).
    for (int made = 0; made < listed_instances; made += 20) {
        ec2::QueryParams p;
        p.add("ImageId", "ami-12345678").add("InstanceType", "m5.large");
        p.add("MinCount", "20").add("MaxCount", "20");
        p.add("TagSpecification.1.ResourceType", "instance");
        const std::vector<std::pair<std::string, std::string>> tags = {
            {"cloudhost-InstanceSetID", set_id},
            {"cloudhost-InstanceType", "small"},
            {"cloudhost-IdleBehavior", "run"},
            {"cloudhost-InstanceSecret", std::string(40, 'a')}};
        for (std::size_t i = 0; i < tags.size(); ++i) {
            p.add("TagSpecification.1.Tag." + std::to_string(i + 1) + ".Key", tags[i].first);
            p.add("TagSpecification.1.Tag." + std::to_string(i + 1) + ".Value", tags[i].second);
        }
        api.call("RunInstances", p);
    }
    InstanceSet set = f.open_set();
    const Tags filter{{"cloudhost-InstanceSetID", set_id}};
    std::vector<double> through_driver, http_only;
    std::size_t seen = 0;
    for (int round = 0; round < 5; ++round) {
        auto t0 = SteadyClock::now();
        seen = set.instances(filter).size();
        through_driver.push_back(ms_since(t0));
    }
    if (seen != listed_instances)
        throw std::runtime_error("listed " + std::to_string(seen) + " instances, expected 5000");

    // Record the pages, replay them from this process.
    std::map<std::string, std::string> pages;
    std::string token;
    do {
        ec2::QueryParams p;
        p.add("Filter.1.Name", "tag:cloudhost-InstanceSetID").add("Filter.1.Value.1", set_id);
        p.add("MaxResults", "1000");
        if (!token.empty())
            p.add("NextToken", token);
        const auto doc = api.call("DescribeInstances", p);
        std::ostringstream xml;
        doc->save(xml, "", pugi::format_raw);
        pages[token] = xml.str();
        token = ec2::child_text(doc->document_element(), "nextToken");
    } while (!token.empty() && pages.size() < 100);
    ReplayServer replay(std::move(pages));
    const std::string replay_parameters =
        R"({"region": "us-east-1", "endpoint": ")" + replay.url() +
        R"(", "access_key_id": "AKIDBENCH", "secret_access_key": "bench"})";
    InstanceSetOptions options;
    options.instance_set_id = set_id;
    options.config_json = replay_parameters;
    const fs::path driver = build_root() + "/plugins/ec2/ec2.so";
    InstanceSet replayed =
        InstanceSet::open(DriverLibrary::open(driver, read_driver_metadata(driver)), options);
    ec2::Ec2Api raw(ec2::parse_config(replay_parameters), {});
    std::vector<double> own, fetch_only;
    for (int round = 0; round < 7; ++round) {
        auto t0 = SteadyClock::now();
        if (replayed.instances(filter).size() != listed_instances)
            throw std::runtime_error("the replayed listing lost instances");
        own.push_back(ms_since(t0));
        const uint64_t before = raw.http_stats().transfer_ns;
        std::string next;
        do {
            ec2::QueryParams p;
            p.add("Filter.1.Name", "tag:cloudhost-InstanceSetID").add("Filter.1.Value.1", set_id);
            p.add("MaxResults", "1000");
            if (!next.empty())
                p.add("NextToken", next);
            next =
                ec2::child_text(raw.call("DescribeInstances", p)->document_element(), "nextToken");
        } while (!next.empty());
        fetch_only.push_back(static_cast<double>(raw.http_stats().transfer_ns - before) / 1e6);
    }
    return {{"ec2_instances_5000", median(through_driver), "ms", "", std::nullopt,
             "median of 5 through host + ec2.so; 5 pages of 1,000 from the Python endpoint"},
            {"ec2_instances_5000_replayed", median(own), "ms",
             "the same 5 pages over HTTP alone (curl transfer)", median(fetch_only),
             "recorded pages served in-process: the difference is the driver's and host's share"}};
}

std::vector<Result> calls_per_handshake() {
    Fixture f({"--no-ssh-servers", "--list-delay", "0"});
    ec2::Ec2Api api(f.config(), {});
    constexpr int sequential = 200, threads = 8, per_thread = 25;
    for (int i = 0; i < sequential; ++i)
        api.call("DescribeInstances", {});
    const ec2::HttpStats one = api.http_stats();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i)
                api.call("DescribeInstances", {});
        });
    for (auto &w : workers)
        w.join();
    const ec2::HttpStats all = api.http_stats();
    const double seq = static_cast<double>(one.requests) / static_cast<double>(one.new_connections);
    const double par =
        static_cast<double>(all.requests - one.requests) /
        static_cast<double>(std::max<uint64_t>(1, all.new_connections - one.new_connections));
    return {{"ec2_calls_per_tls_handshake", seq, "calls", "no connection reuse", 1.0,
             "200 sequential calls on one client"},
            {"ec2_calls_per_tls_handshake_8_threads", par, "calls", "no connection reuse", 1.0,
             "8 threads x 25 calls on one client (handles pooled)"}};
}

std::vector<Result> create_to_ssh_ready() {
    Fixture f({"--loopback-server",
               build_root() + "/plugins/loopback/server/cloudhost-loopback-server",
               "--pending-delay", "0", "--address-delay", "0", "--list-delay", "0"});
    InstanceSet set = f.open_set();
    const SshKey key = SshKey::generate_ed25519();
    InstanceType type;
    type.name = "small";
    type.provider_type = "t3.small";
    std::vector<double> samples;
    for (int round = 0; round < 3; ++round) {
        const auto t0 = SteadyClock::now();
        PreparedCreate prepared = prepare_create({{"cloudhost-InstanceSetID", set_id}}, "",
                                                 "cloudhost-", "instance-secret");
        Instance instance = set.create(type, "ami-12345678", prepared.tags, prepared.init_command,
                                       key.public_key_openssh());
        auto target = std::make_shared<TagVerifier>(std::make_shared<InstanceTarget>(instance),
                                                    secret_from_tags(prepared.tags, "cloudhost-"),
                                                    "instance-secret");
        SshExecutorOptions options;
        options.default_port = std::to_string(f.endpoint.info().ssh_port);
        SshExecutor ssh(target, key, options);
        bool ready = false;
        for (int attempt = 0; attempt < 600 && !ready; ++attempt) {
            try {
                ready = ssh.execute({}, "true").exit_status == 0;
            } catch (const std::exception &) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
        const double ms = ms_since(t0);
        instance.destroy();
        if (!ready)
            throw std::runtime_error("instance never answered SSH");
        samples.push_back(ms);
    }
    return {{"ec2_create_to_ssh_ready", median(samples), "ms", "", std::nullopt,
             "median of 3: RunInstances, boot, SSH + instance secret, `true`; endpoint delays 0"}};
}

Register instances("ec2_instances_5000", "ec2: Instances() of 5,000 instances via the endpoint",
                   instances_5000);
Register handshakes("ec2_calls_per_tls_handshake", "ec2: HTTPS calls per TLS handshake",
                    calls_per_handshake);
Register ready("ec2_create_to_ssh_ready", "ec2: create -> SSH-ready via the endpoint",
               create_to_ssh_ready);

} // namespace
} // namespace cloudhost::bench

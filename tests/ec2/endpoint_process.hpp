// Starts the fake EC2 endpoint (tests/ec2/endpoint) as a child process, waits
// for its ready file, talks to its control interface, and stops it (and its
// SSH servers) when it goes. Used by the ec2 integration tests and bench.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace cloudhost::test {

struct EndpointInfo {
    std::string endpoint_url;
    std::string ca_file;
    std::string region;
    std::string access_key_id;
    std::string secret_access_key;
    std::string imds_url;
    std::string control_url;
    int ssh_port = 0;
};

class EndpointProcess {
  public:
    // `args` are added to run_endpoint.py's command line (e.g.
    // "--no-ssh-servers", "--page-size", "1000"). `script` replaces
    // endpoint/run_endpoint.py (a path under tests/ec2/).
    EndpointProcess(const std::filesystem::path &state_dir, const std::vector<std::string> &args,
                    const std::string &script = "endpoint/run_endpoint.py");
    ~EndpointProcess();
    EndpointProcess(const EndpointProcess &) = delete;
    EndpointProcess &operator=(const EndpointProcess &) = delete;

    const EndpointInfo &info() const { return info_; }

    // driver_parameters naming this endpoint, its CA and its static
    // credentials, plus `extra` members (a JSON fragment, "" for none).
    std::string driver_parameters(const std::string &extra = "",
                                  bool with_credentials = true) const;

    // A control request; returns the body, throws on a non-2xx answer.
    std::string control(const std::string &method, const std::string &path,
                        const std::string &body = "") const;
    // GET /counters as parsed JSON: the count of `action` requests.
    long action_count(const std::string &action) const;

    std::string log_tail() const;

  private:
    std::filesystem::path state_dir_;
    pid_t pid_ = -1;
    EndpointInfo info_;
};

} // namespace cloudhost::test

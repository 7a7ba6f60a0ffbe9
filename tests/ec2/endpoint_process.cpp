#include "endpoint_process.hpp"

#include <curl/curl.h>
#include <rapidjson/document.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char **environ;

namespace cloudhost::test {
namespace {

constexpr auto start_timeout = std::chrono::seconds(60);
constexpr auto stop_grace = std::chrono::seconds(15);

std::string read_file(const std::filesystem::path &path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string member(const rapidjson::Document &doc, const char *name) {
    const auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString())
        throw std::runtime_error(std::string("endpoint ready file lacks ") + name);
    return it->value.GetString();
}

std::size_t collect(char *data, std::size_t size, std::size_t count, void *out) {
    static_cast<std::string *>(out)->append(data, size * count);
    return size * count;
}

} // namespace

EndpointProcess::EndpointProcess(const std::filesystem::path &state_dir,
                                 const std::vector<std::string> &args, const std::string &script)
    : state_dir_(state_dir) {
    const char *source_root = std::getenv("CLOUDHOST_SOURCE_ROOT");
#ifdef CLOUDHOST_SOURCE_ROOT_DEFAULT
    if (!source_root || !*source_root)
        source_root = CLOUDHOST_SOURCE_ROOT_DEFAULT; // the benchmark, run by hand
#endif
    if (!source_root)
        throw std::runtime_error("CLOUDHOST_SOURCE_ROOT is not set");
    std::filesystem::create_directories(state_dir_);
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     std::string(source_root) + "/tests/ec2/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--state-dir", state_dir_.string(), "--exit-with-parent"});
    std::vector<char *> c_argv;
    for (auto &a : argv)
        c_argv.push_back(a.data());
    c_argv.push_back(nullptr);

    const std::string log = (state_dir_ / "endpoint.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc =
        posix_spawn(&pid_, "/usr/bin/python3", &actions, nullptr, c_argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("cannot start the ec2 endpoint");

    const auto ready = state_dir_ / "ready.json";
    const auto deadline = std::chrono::steady_clock::now() + start_timeout;
    while (!std::filesystem::exists(ready)) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("the ec2 endpoint exited before it was ready:\n" + log_tail());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            this->~EndpointProcess();
            throw std::runtime_error("the ec2 endpoint was not ready within 60 s:\n" + log_tail());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    rapidjson::Document doc;
    const std::string text = read_file(ready);
    doc.Parse(text.c_str());
    if (doc.HasParseError() || !doc.IsObject())
        throw std::runtime_error("endpoint ready file is not JSON: " + text);
    info_.endpoint_url = member(doc, "endpoint_url");
    info_.ca_file = member(doc, "ca_file");
    info_.region = member(doc, "region");
    info_.access_key_id = member(doc, "access_key_id");
    info_.secret_access_key = member(doc, "secret_access_key");
    info_.imds_url = member(doc, "imds_url");
    info_.control_url = member(doc, "control_url");
    if (doc.HasMember("ssh_port") && doc["ssh_port"].IsInt())
        info_.ssh_port = doc["ssh_port"].GetInt();
}

EndpointProcess::~EndpointProcess() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM); // it stops every SSH server it started
    const auto deadline = std::chrono::steady_clock::now() + stop_grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string EndpointProcess::driver_parameters(const std::string &extra,
                                               bool with_credentials) const {
    std::string json = R"({"region": ")" + info_.region + R"(", "endpoint": ")" +
                       info_.endpoint_url + R"(", "ca_file": ")" + info_.ca_file + "\"";
    if (with_credentials)
        json += R"(, "access_key_id": ")" + info_.access_key_id + R"(", "secret_access_key": ")" +
                info_.secret_access_key + "\"";
    if (!extra.empty())
        json += ", " + extra;
    return json + "}";
}

std::string EndpointProcess::control(const std::string &method, const std::string &path,
                                     const std::string &body) const {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl)
        throw std::runtime_error("curl_easy_init failed");
    std::string url = info_.control_url;
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    url += path;
    std::string out;
    curl_slist *headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 30L);
    if (method != "GET") {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &out);
    const CURLcode rc = curl_easy_perform(curl.get());
    curl_slist_free_all(headers);
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status < 200 || status > 299)
        throw std::runtime_error("control " + method + " " + path + " failed (HTTP " +
                                 std::to_string(status) + "): " + out);
    return out;
}

long EndpointProcess::action_count(const std::string &action) const {
    rapidjson::Document doc;
    const std::string text = control("GET", "/counters");
    doc.Parse(text.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("actions"))
        throw std::runtime_error("bad /counters answer: " + text);
    const auto &actions = doc["actions"];
    const auto it = actions.FindMember(action.c_str());
    return it == actions.MemberEnd() ? 0 : it->value.GetInt64();
}

std::string EndpointProcess::log_tail() const {
    const std::string log = read_file(state_dir_ / "endpoint.log");
    return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
}

} // namespace cloudhost::test

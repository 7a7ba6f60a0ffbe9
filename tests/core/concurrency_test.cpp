// Eight threads share one InstanceSet: create, list, set tags and destroy
// concurrently, and every thread sees consistent results.
#include "stub_fixture.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

using namespace cloudhost;
using namespace core_test;

TEST_CASE("concurrent calls from 8 threads on one InstanceSet") {
    constexpr int threads = 8, per_thread = 6;
    auto lib = open_stub();
    auto set = InstanceSet::open(lib, options(R"({"cloud": ")" + unique_cloud("threads") + "\"}"));

    std::atomic<int> failures{0};
    std::vector<std::string> ids[threads];
    auto work = [&](int t) {
        const std::string owner = "thread-" + std::to_string(t);
        std::vector<Instance> mine;
        for (int i = 0; i < per_thread; ++i)
            mine.push_back(set.create(type("t" + std::to_string(t % 3)), "img",
                                      {{"owner", owner}, {"n", std::to_string(i)}}, "",
                                      std::nullopt));
        // This thread's instances, and no other's, carry its owner tag.
        auto listed = set.instances({{"owner", owner}});
        if (listed.size() != per_thread)
            ++failures;
        for (auto &instance : mine) {
            ids[t].push_back(instance.id());
            instance.set_tags({{"owner", owner}, {"state", "tagged"}});
        }
        for (auto &instance : set.instances({{"owner", owner}, {"state", "tagged"}}))
            instance.destroy();
        if (!set.instances({{"owner", owner}}).empty())
            ++failures;
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back(work, t);
    for (auto &t : pool)
        t.join();

    CHECK(failures == 0);
    std::set<std::string> unique;
    for (const auto &list : ids)
        unique.insert(list.begin(), list.end());
    CHECK(unique.size() == threads * per_thread); // no id handed out twice
    CHECK(set.instances().empty());

    const auto c = set.counters();
    CHECK(c[static_cast<std::size_t>(Operation::create)].calls == threads * per_thread);
    CHECK(c[static_cast<std::size_t>(Operation::set_tags)].calls == threads * per_thread);
    CHECK(c[static_cast<std::size_t>(Operation::destroy)].calls == threads * per_thread);
    CHECK(c[static_cast<std::size_t>(Operation::instances)].calls == threads * 3 + 1);
    for (const auto &s : c)
        CHECK(s.errors == 0);
}

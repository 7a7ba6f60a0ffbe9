// The watcher reports complete files only: after close-after-write, a rename
// into the directory or a removal; not while a file is still open for writing.
#include "swap_fixture.hpp"

#include "cloudhost/internal/driver_watcher.hpp"

#include <atomic>
#include <fstream>

TEST_CASE("driver watcher reports complete changes to .so files") {
    SwapFixture f;
    std::atomic<int> changes{0};
    cloudhost::DriverWatcher watcher({f.driver_dir, f.root / "absent"}, [&] { ++changes; });
    auto wait_for_changes = [&](int n) {
        for (int i = 0; i < 200 && changes < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return changes.load();
    };

    {
        std::ofstream partial(f.driver_dir / "half.so");
        partial << "not finished";
        partial.flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        CHECK(watcher.being_written(f.driver_dir / "half.so"));
        CHECK(changes == 0);
    } // closed: now complete
    CHECK(wait_for_changes(1) == 1);
    CHECK_FALSE(watcher.being_written(f.driver_dir / "half.so"));

    f.install_by_rename("swapcloud_v1", "v1.so");
    CHECK(wait_for_changes(2) == 2);
    fs::remove(f.driver_dir / "v1.so");
    CHECK(wait_for_changes(3) == 3);

    std::ofstream(f.driver_dir / "notes.txt") << "ignored";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(changes == 3);
}

#include "runtime/ThreadPool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

using slope::runtime::groupParts;
using slope::runtime::rowSlices;
using slope::runtime::ThreadPool;

TEST_CASE("a forward pass is split into slices of at least 4 rows, above 2 MFLOP") {
  const double row = 2.1e6; // a 1024 x 1024 layer
  CHECK(rowSlices(1, row, 2) == 1);
  CHECK(rowSlices(7, row, 2) == 1); // 3 and 4 rows would each stream all the weights
  CHECK(rowSlices(8, row, 2) == 2);
  CHECK(rowSlices(1000, row, 2) == 2);
  CHECK(rowSlices(12, row, 4) == 3);
  CHECK(rowSlices(1000, row, 4) == 4);
  CHECK(rowSlices(1000, row, 1) == 1);
  // The MLP of docs/PERFORMANCE.md, 0.22 MFLOP a row: split from 10 rows.
  CHECK(rowSlices(9, 2.2e5, 2) == 1);
  CHECK(rowSlices(10, 2.2e5, 2) == 2);
  CHECK(rowSlices(0, row, 2) == 1);
}

TEST_CASE("a fusion group is shared by column tiles when it has enough, else by rows") {
  const double row = 2.1e6; // a 1024 x 1024 layer: 22 column tiles with AVX-512
  CHECK(groupParts(1, row, 22, 2) == 2); // columns at any batch above 2 MFLOP
  CHECK(groupParts(3, row, 22, 2) == 2);
  CHECK(groupParts(1000, row, 22, 4) == 4);
  CHECK(groupParts(1, row, 22, 1) == 1);
  CHECK(groupParts(1, 1.9e6, 22, 2) == 1); // too little work to wake a thread
  CHECK(groupParts(1, row, 3, 4) == 3);    // fewer tiles than threads: one part per tile
  CHECK(groupParts(1, row, 1, 4) == 1);    // a single tile: rows, as rowSlices
  CHECK(groupParts(12, row, 1, 4) == 3);
  CHECK(groupParts(12, row, 0, 4) == 3);
  CHECK(groupParts(7, row, 0, 2) == 1);
}

TEST_CASE("sleeping workers are woken only for 20 MFLOP or more") {
  const double row = 2.1e6; // a 1024 x 1024 layer
  CHECK(groupParts(1, row, 22, 2, /*workersAwake=*/false) == 1);
  CHECK(groupParts(9, row, 22, 2, false) == 1);
  CHECK(groupParts(10, row, 22, 2, false) == 2);
  CHECK(rowSlices(9, row, 2, false) == 1);
  CHECK(rowSlices(10, row, 2, false) == 2);
  CHECK(rowSlices(9, row, 2, true) == 2);
}

TEST_CASE("thread pool workers sleep after a while, and wake() wakes them") {
  using namespace std::chrono_literals;
  ThreadPool pool(2);
  // Polls without sleeping: a woken worker is awake for only its 200 us of spinning.
  auto waitFor = [](const std::function<bool()> &condition) {
    for (auto until = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < until; std::this_thread::yield())
      if (condition())
        return true;
    return false;
  };
  // Workers spin for 200 us after starting (and after each job), then sleep.
  CHECK(waitFor([&] { return !pool.awake(); }));
  pool.wake();
  CHECK(waitFor([&] { return pool.awake(); }));
  CHECK(waitFor([&] { return !pool.awake(); }));
  // A job still runs every part, and the workers then spin again before they sleep.
  std::atomic<int> ran{0};
  pool.run(2, [&](size_t) { ++ran; });
  CHECK(ran == 2);
  CHECK(waitFor([&] { return !pool.awake(); }));
}

TEST_CASE("thread pool runs every part exactly once") {
  for (unsigned threads : {1u, 2u, 4u}) {
    ThreadPool pool(threads);
    CHECK(pool.threads() == threads);
    for (size_t parts : {0u, 1u, 2u, 3u, 17u, 256u}) {
      std::vector<std::atomic<int>> hits(parts);
      for (int repeat = 0; repeat < 20; ++repeat)
        pool.run(parts, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < parts; ++i)
        CHECK(hits[i].load() == 20);
    }
  }
}

TEST_CASE("thread pool shared by concurrent callers") {
  // A caller that finds the pool busy runs its parts itself; none is lost or repeated.
  ThreadPool pool(3);
  constexpr int kCallers = 4, kCalls = 200, kParts = 8;
  std::vector<std::atomic<int>> total(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int call = 0; call < kCalls; ++call)
        pool.run(kParts, [&](size_t) { total[c].fetch_add(1); });
    });
  for (std::thread &t : callers)
    t.join();
  for (int c = 0; c < kCallers; ++c)
    CHECK(total[c].load() == kCalls * kParts);
}

TEST_CASE("shared pools are one per thread count") {
  CHECK(ThreadPool::shared(2) == ThreadPool::shared(2));
  CHECK(ThreadPool::shared(2) != ThreadPool::shared(3));
  CHECK(ThreadPool::shared(3)->threads() == 3);
  CHECK(ThreadPool::hardwareThreads() >= 1);
}

#include "runtime/ThreadPool.h"

#include <algorithm>

#include <chrono>

namespace slope::runtime {

ThreadPool::ThreadPool(unsigned threads) {
  for (unsigned i = 1; i < threads; ++i)
    workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

namespace {

/// Whether `flops` of work pay for splitting: 2 MFLOP when the workers are awake, 20
/// MFLOP when a sleeping one must be woken.
bool worthSplitting(double flops, bool workersAwake) {
  constexpr double kSplitFlops = 2e6;
  constexpr double kWakeFlops = 2e7;
  return flops >= (workersAwake ? kSplitFlops : kWakeFlops);
}

} // namespace

unsigned rowSlices(int64_t batch, double flopsPerRow, unsigned threads, bool workersAwake) {
  constexpr int64_t kMinRowsPerSlice = 4;
  if (threads <= 1 || !worthSplitting(flopsPerRow * double(batch), workersAwake))
    return 1;
  return static_cast<unsigned>(std::clamp<int64_t>(batch / kMinRowsPerSlice, 1, threads));
}

unsigned groupParts(int64_t batch, double flopsPerRow, int64_t columnTiles, unsigned threads,
                    bool workersAwake) {
  if (threads > 1 && columnTiles >= 2 && worthSplitting(flopsPerRow * double(batch), workersAwake))
    return static_cast<unsigned>(std::min<int64_t>(threads, columnTiles));
  return rowSlices(batch, flopsPerRow, threads, workersAwake);
}

void ThreadPool::wake() {
  if (awake())
    return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
}

unsigned ThreadPool::hardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::shared_ptr<ThreadPool> ThreadPool::shared(unsigned threads) {
  static std::mutex mutex;
  static std::map<unsigned, std::shared_ptr<ThreadPool>> pools;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<ThreadPool> &pool = pools[threads];
  if (!pool)
    pool = std::make_shared<ThreadPool>(threads);
  return pool;
}

void ThreadPool::drain(Job &job) {
  size_t done = 0;
  while (true) {
    size_t part = job.next.fetch_add(1, std::memory_order_relaxed);
    if (part >= job.parts)
      break;
    (*job.fn)(part);
    ++done;
    job.completed.fetch_add(1, std::memory_order_release);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  job.finished += done;
}

void ThreadPool::run(size_t parts, const std::function<void(size_t)> &fn) {
  std::unique_lock<std::mutex> busy(jobMutex_, std::try_to_lock);
  if (workers_.empty() || parts <= 1 || !busy.owns_lock()) {
    for (size_t i = 0; i < parts; ++i)
      fn(i);
    return;
  }
  Job job;
  job.fn = &fn;
  job.parts = parts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(job);
  // The other parts usually end within microseconds of the caller's: spin for them
  // briefly rather than sleep at once, since waking a sleeping thread costs tens of
  // microseconds. The wait below still makes sure no worker touches the job after.
  auto spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
  while (job.completed.load(std::memory_order_acquire) < job.parts &&
         std::chrono::steady_clock::now() < spinUntil)
    std::this_thread::yield();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return job.finished == job.parts && job.active == 0; });
  job_ = nullptr;
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  while (true) {
    // Spin briefly for the next job before sleeping: a forward pass called in a loop
    // then finds its workers awake.
    auto spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spinUntil)
      std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mutex_);
    sleeping_.fetch_add(1, std::memory_order_relaxed);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    sleeping_.fetch_sub(1, std::memory_order_relaxed);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_)
      return;
    Job *job = job_;
    if (!job)
      continue;
    ++job->active;
    lock.unlock();
    drain(*job);
    lock.lock();
    --job->active;
    done_.notify_all();
  }
}

} // namespace slope::runtime

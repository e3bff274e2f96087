// A persistent pool of worker threads for splitting one forward pass into parts.
//
// `run(parts, fn)` calls fn(0) ... fn(parts - 1), the caller taking a share, and returns
// when all have finished. Workers are started once and sleep between jobs (after a short
// spin, so that back-to-back calls do not pay a wake-up each). The pool runs one job at
// a time: a caller that finds it busy (another thread's forward pass) runs its parts
// itself rather than wait, so concurrent callers never deadlock or oversubscribe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace slope::runtime {

/// How many contiguous slices of rows a forward pass of `batch` rows, `flopsPerRow`
/// each, is cut into on `threads` threads: one below about 10 us of work (2 MFLOP),
/// where waking the workers costs more than it saves; else one per thread, but at least
/// 4 rows per slice. Every slice streams all the weights, and a network with that much
/// work per row has weights larger than L2: a slice of fewer rows mostly waits for them
/// (1024 x 1024 at batch 2 took 63 us on two threads, 41 us on one; at batch 8, 4 rows
/// each, 72 us against 77).
///
/// With `workersAwake` false (the workers sleep: no job for a while), only work of at
/// least 20 MFLOP (about 100 us) is split: waking a sleeping thread takes tens of
/// microseconds, which a sporadic call of less work would pay in latency (1024 x 1024 at
/// batch 1, called every millisecond: a 90th percentile of 121 us on two threads against
/// 85 us on one).
unsigned rowSlices(int64_t batch, double flopsPerRow, unsigned threads,
                   bool workersAwake = true);

/// How many parts one fusion group is cut into on `threads` threads when a forward pass
/// runs the groups one at a time (the JIT's step entry): one below about 10 us of work,
/// as rowSlices; else, for a group with column tiles to share (`columnTiles`, 0 for a
/// group that cannot split them), one per thread but at most one per tile: each thread
/// then streams its own share of the weights, which pays at every batch size (4096 x
/// 4096 at batch 1: 750 us on two threads against 2500 us by rows; at batch 64, 6.6 ms
/// against 8.4 ms). The step entry splits a group by columns exactly when it has at
/// least as many tiles as parts, so these parts are column shares. Any other group, or
/// one with a single tile, splits by rows, as rowSlices. `workersAwake` as for
/// rowSlices.
unsigned groupParts(int64_t batch, double flopsPerRow, int64_t columnTiles, unsigned threads,
                    bool workersAwake = true);

class ThreadPool {
public:
  /// A pool with `threads - 1` workers (the caller is the last thread).
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }

  /// Whether no worker sleeps: each is in a job or spinning for the next one (as it
  /// does for a while after each job), so that a job starts without a wake-up.
  bool awake() const { return sleeping_.load(std::memory_order_relaxed) == 0; }

  /// Wakes the sleeping workers without a job: they spin for the next one for a while,
  /// as after a job. For a caller that ran alone because they slept, so that its next
  /// call, if it comes soon, finds them awake.
  void wake();

  void run(size_t parts, const std::function<void(size_t)> &fn);

  /// A pool of `threads` threads shared by every network of the process that asks for
  /// that many (pools are created on first use and live until exit).
  static std::shared_ptr<ThreadPool> shared(unsigned threads);

  /// The number of threads "all cores" means: std::thread::hardware_concurrency(), at
  /// least 1.
  static unsigned hardwareThreads();

private:
  /// One call of run(), on the caller's stack. Workers join it under `mutex_` while it
  /// is posted; the caller takes it down only once every part is done and every worker
  /// that joined has left, so no worker ever holds a stale job.
  struct Job {
    const std::function<void(size_t)> *fn;
    size_t parts;
    std::atomic<size_t> next{0};
    size_t finished = 0; // guarded by mutex_
    unsigned active = 0; // workers inside drain(); guarded by mutex_
    std::atomic<size_t> completed{0}; // parts done, for the caller to spin on
  };

  void workerLoop();
  void drain(Job &job);

  std::vector<std::thread> workers_;
  std::mutex jobMutex_; // held by the caller whose job the pool runs

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Job *job_ = nullptr; // the posted job; guarded by mutex_
  std::atomic<uint64_t> generation_{0};
  std::atomic<unsigned> sleeping_{0}; // workers waiting on wake_
  bool stopping_ = false;
};

} // namespace slope::runtime

#pragma once
/// SIGINT, SIGTERM and SIGHUP for the command-line program: the run stops with exit code
/// 128 + signal (130, 143, 129) and the one line "qfluct: interrupted by SIGINT; ...", after
/// removing every temporary file it tracks. An interruption that arrives while a deferral
/// (defer()) is held waits until it is released, so a commit of the outputs is never cut
/// in two by these signals. (SIGKILL cannot be caught: see recover_output_location.)
///
/// How: the constructor blocks the three signals in the calling thread, so every thread created
/// afterwards (OpenMP's workers included) inherits the block, and starts one watcher thread that
/// takes them with sigwait(). The watcher acts in ordinary code under the object's mutex: no
/// async-signal-safety limits, and no process-wide state besides the signal mask.
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace qfluct {

class InterruptGuard {
 public:
  /// Create one, first thing in main, before any other thread exists.
  InterruptGuard();
  /// Stops the watcher; signals that arrive from then on stay blocked and end with the process.
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// While the returned lock is held, an interruption waits (and is acted on at release).
  [[nodiscard]] std::unique_lock<std::mutex> defer();
  /// A file to remove if the run is interrupted. Call under defer(), in the same hold as the
  /// file's creation, so no interruption can fall between the two.
  void track(const std::string& path);
  /// Forget a tracked file (renamed into place, or removed). Call under defer().
  void untrack(const std::string& path);
  /// The outputs are complete: from now on an interruption is ignored and the run ends normally.
  /// Call under defer().
  void finish();
  /// Called (under the deferral's mutex, from the watcher) when an interruption ends the run,
  /// before the temporaries are removed: the last chance to save work (a checkpoint). Returns
  /// text for the interruption line ("; checkpoint ... written"), or "". Set under defer().
  void on_interrupt(std::function<std::string()> save);

 private:
  void watch();
  std::mutex mutex_;
  std::set<std::string> tracked_;
  bool finished_ = false;
  bool stopping_ = false;
  std::function<std::string()> save_;
  std::thread watcher_;
};

}  // namespace qfluct

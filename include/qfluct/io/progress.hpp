#pragma once
/// Progress on stderr: on a terminal a bar with rate and ETA (redrawn ~10 times a second);
/// otherwise (a batch job's log) no bar, but a line once the run has taken `first_line` seconds
/// (default a minute) and every `every` seconds (5 minutes) after that, with the fraction done
/// and an estimate of the time left: a long run never goes silent, a short one stays quiet.
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

namespace qfluct {

/// Hears a run's progress: (stage label, amount done, total). See ProgressBar::observe.
using ProgressObserver = std::function<void(const std::string& label, double done, double total)>;

class ProgressBar {
 public:
  /// `label` prefixes the bar; `unit` names what is counted ("traj", "%").
  ProgressBar(std::string label, double total, std::string unit, bool enabled, double first_line = 60.0,
              double every = 300.0);
  ~ProgressBar();
  /// Sets the amount done (thread-safe; redraws at most ~10 times a second).
  void update(double done);
  void finish();
  /// Also tell `observer` of every update (enabled or not), before anything is drawn, from the
  /// thread that calls update(). An exception it throws leaves update() (the bar unchanged).
  void observe(ProgressObserver observer) { observer_ = std::move(observer); }

 private:
  void draw(double done, bool final);
  void line(double done);
  std::string label_, unit_;
  double total_;
  bool enabled_, terminal_, finished_ = false;
  double first_line_, every_, next_line_;
  std::chrono::steady_clock::time_point start_, last_;
  std::mutex mutex_;
  ProgressObserver observer_;
};

/// Whether stderr is an interactive terminal.
bool stderr_is_terminal();

}  // namespace qfluct

#pragma once
/// A progress bar with rate and ETA on stderr, shown only when stderr is a terminal.
#include <chrono>
#include <mutex>
#include <string>

namespace qfluct {

class ProgressBar {
 public:
  /// `label` prefixes the bar; `unit` names what is counted ("traj", "%").
  ProgressBar(std::string label, double total, std::string unit, bool enabled);
  ~ProgressBar();
  /// Sets the amount done (thread-safe; redraws at most ~10 times a second).
  void update(double done);
  void finish();

 private:
  void draw(double done, bool final);
  std::string label_, unit_;
  double total_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
  std::mutex mutex_;
};

/// Whether stderr is an interactive terminal.
bool stderr_is_terminal();

}  // namespace qfluct

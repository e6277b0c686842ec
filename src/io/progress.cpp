#include "qfluct/io/progress.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

namespace qfluct {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::string label, double total, std::string unit, bool enabled, double first_line, double every)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      terminal_(enabled && stderr_is_terminal()), first_line_(first_line), every_(every), next_line_(first_line),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(double done) {
  if (observer_) observer_(label_, done, total_);
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (!terminal_) {
    if (std::chrono::duration<double>(now - start_).count() >= next_line_ && done < total_) line(done);
    return;
  }
  if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
  last_ = now;
  draw(done, false);
}

void ProgressBar::finish() {
  if (!enabled_ || !terminal_ || finished_) return;
  std::lock_guard lock(mutex_);
  finished_ = true;
  std::fputs("\n", stderr);
}

void ProgressBar::line(double done) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  next_line_ = elapsed + every_;
  const double fraction = total_ > 0 ? std::min(1.0, done / total_) : 1.0;
  const auto minutes = [](double s) { return s < 90 ? fmt::format("{:.0f} s", s) : fmt::format("{:.1f} min", s / 60); };
  const std::string left = fraction > 0 ? fmt::format("; about {} left", minutes(elapsed * (1 - fraction) / fraction))
                                        : "; no estimate yet";
  fmt::print(stderr, "qfluct: {} {:.1f}% done after {}{}\n", label_, 100 * fraction, minutes(elapsed), left);
  std::fflush(stderr);
}

void ProgressBar::draw(double done, bool) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ > 0 ? std::min(1.0, done / total_) : 1.0;
  const int width = 30, filled = int(fraction * width);
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  fmt::print(stderr, "\r{} [{}] {:5.1f}%  {:.4g} {}/s  elapsed {:.1f} s  eta {:.1f} s   ", label_, bar,
             100 * fraction, rate, unit_, elapsed, eta);
  std::fflush(stderr);
}

}  // namespace qfluct

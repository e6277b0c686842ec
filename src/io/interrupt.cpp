#include "qfluct/io/interrupt.hpp"

#include <csignal>
#include <cstdlib>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

namespace qfluct {

namespace {

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }

}  // namespace

InterruptGuard::InterruptGuard() {
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  watcher_ = std::thread([this] { watch(); });
}

InterruptGuard::~InterruptGuard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  // Wake the watcher from sigwait with a signal sent to that thread alone.
  pthread_kill(watcher_.native_handle(), SIGHUP);
  watcher_.join();
}

std::unique_lock<std::mutex> InterruptGuard::defer() { return std::unique_lock(mutex_); }

void InterruptGuard::track(const std::string& path) { tracked_.insert(path); }

void InterruptGuard::untrack(const std::string& path) { tracked_.erase(path); }

void InterruptGuard::finish() { finished_ = true; }

void InterruptGuard::on_interrupt(std::function<std::string()> save) { save_ = std::move(save); }

void InterruptGuard::watch() {
  const sigset_t set = interrupt_signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (finished_) continue;  // the outputs are complete; the program is only exiting
    std::string saved;
    if (save_) {
      try {
        saved = save_();
      } catch (const std::exception& e) {
        saved = fmt::format("; the checkpoint could not be saved: {}", e.what());
      }
    }
    for (const auto& path : tracked_) ::unlink(path.c_str());
    // One line, on a fresh line when a progress bar may be on the terminal.
    const std::string line = fmt::format("{}qfluct: interrupted by {}; output files left as they were{}\n",
                                         ::isatty(STDERR_FILENO) ? "\n" : "", signal_name(sig), saved);
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
    // Holding the mutex: no commit can start or be half done. _Exit skips the destructors of
    // objects that other threads may be using.
    std::_Exit(128 + sig);
  }
}

}  // namespace qfluct

#pragma once
// Test helpers for the command-line contract: scratch directories, files, and the qfluct
// binary run as a child process (with its PID, so that tests can send it signals).
#include <chrono>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace qfluct::test {

namespace fs = std::filesystem;

/// A fresh directory under the system's temporary directory, removed with its contents.
struct ScratchDir {
  fs::path dir;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "qfluct-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

/// How a child ended: exit code, or the signal that killed it.
struct Ending {
  bool signaled = false;
  int code = -1;    ///< exit code when !signaled
  int signal = 0;   ///< the signal when signaled
};

inline Ending ending(int status) {
  if (WIFSIGNALED(status)) return {true, -1, WTERMSIG(status)};
  return {false, WEXITSTATUS(status), 0};
}

/// Starts the qfluct binary with `args` (no shell), stdout and stderr to the given files, with
/// the default handling of SIGINT/SIGTERM/SIGHUP and nothing blocked (whatever this process has).
/// `binary`: the qfluct under test unless another one is named (golden regeneration).
inline pid_t spawn_qfluct(const std::vector<std::string>& args, const std::string& out, const std::string& err,
                          const std::string& binary = QFLUCT_BINARY) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("posix_spawn failed");
  return pid;
}

inline Ending wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  return ending(status);
}

/// Waits at most `limit` for the child; kills it (SIGKILL) if it runs longer. Returns whether it
/// ended by itself. A guard against a hang, not a timing assertion.
inline bool wait_at_most(pid_t pid, std::chrono::milliseconds limit, Ending& result) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result = ending(status);
      return true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      result = wait_for(pid);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

/// Runs qfluct to the end; stderr in `err`.
inline Ending run_qfluct(const std::vector<std::string>& args, std::string& err, const ScratchDir& scratch,
                         const std::string& binary = QFLUCT_BINARY) {
  const std::string err_file = scratch.path("stderr.txt");
  const pid_t pid = spawn_qfluct(args, scratch.path("stdout.txt"), err_file, binary);
  const Ending e = wait_for(pid);
  err = slurp(err_file);
  return e;
}

/// A PID that no process has: a child that has exited and been reaped. (Reuse of the number
/// within a test's lifetime would need the PID space to wrap around meanwhile.)
inline long dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  wait_for(pid);
  return long(pid);
}

}  // namespace qfluct::test

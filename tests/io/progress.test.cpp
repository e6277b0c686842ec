// Progress off a terminal (io/progress.hpp): a batch log gets a line once a run has gone on for
// a while, then at a low rate, with the fraction done and the time left; a short run prints nothing.
#include "qfluct/io/progress.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace qfluct;

namespace {

/// stderr into a file for the lifetime of the object (so it is not a terminal either).
class CaptureStderr {
 public:
  CaptureStderr() : path_("progress_test_stderr." + std::to_string(::getpid())) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    std::FILE* f = std::fopen(path_.c_str(), "w");
    ::dup2(::fileno(f), STDERR_FILENO);
    std::fclose(f);
  }
  std::string text() {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  ~CaptureStderr() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::remove(path_.c_str());
  }

 private:
  std::string path_;
  int saved_;
};

}  // namespace

TEST_CASE("progress off a terminal: a line after first_line seconds, then at most every `every`", "[progress]") {
  CaptureStderr capture;
  {
    ProgressBar quiet_run("master equation", 1.0, "", true);  // defaults: a minute before the first line
    quiet_run.update(0.5);
    quiet_run.update(1.0);
  }
  CHECK(capture.text().empty());
  {
    ProgressBar long_run("trajectories", 1000.0, "traj", true, 0.0, 3600.0);
    long_run.update(250.0);
    long_run.update(500.0);  // within the hour: no second line
  }
  const std::string text = capture.text();
  INFO(text);
  CHECK(text.rfind("qfluct: trajectories 25.0% done after ", 0) == 0);
  CHECK(text.find("left\n") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  {
    ProgressBar off("trajectories", 10.0, "traj", false, 0.0, 0.0);  // --quiet
    off.update(5.0);
  }
  CHECK(capture.text() == text);
}

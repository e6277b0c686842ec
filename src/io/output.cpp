#include "qfluct/io/output.hpp"

#include "qfluct/core/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <unistd.h>

namespace qfluct {

std::string sidecar_path(const std::string& csv_path) {
  const std::string ext = ".csv";
  if (csv_path.size() > ext.size() && csv_path.compare(csv_path.size() - ext.size(), ext.size(), ext) == 0)
    return csv_path.substr(0, csv_path.size() - ext.size()) + ".json";
  return csv_path + ".json";
}

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(tmp);
    if (!out) throw InputError("-o", fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    try {
      write(out);
      out.flush();
      if (!out) throw std::runtime_error("write failed");
    } catch (...) {
      out.close();
      std::remove(tmp.c_str());
      throw;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw InputError("-o", fmt::format("cannot create {}: {}", path, std::strerror(e)));
  }
}

void write_csv(std::ostream& out, const TimeSeries& s) {
  const bool errors = s.errors.size() > 0;
  std::string line = "t";
  for (const auto& c : s.columns) {
    line += "," + c;
    if (errors) line += "," + c + "_err";
  }
  out << line << '\n';
  for (std::size_t i = 0; i < s.times.size(); ++i) {
    line = fmt::format("{:.17g}", s.times[i]);
    for (Eigen::Index c = 0; c < Eigen::Index(s.columns.size()); ++c) {
      line += fmt::format(",{:.17g}", s.values(Eigen::Index(i), c));
      if (errors) line += fmt::format(",{:.17g}", s.errors(Eigen::Index(i), c));
    }
    out << line << '\n';
  }
}

}  // namespace qfluct

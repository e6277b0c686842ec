#pragma once
// A CSV written by qfluct read back as named columns of numbers (tests only: no quoting, every
// cell a number after the header).
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace qfluct::test {

inline std::map<std::string, std::vector<double>> read_csv(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  std::stringstream header(line);
  for (std::string cell; std::getline(header, cell, ',');) names.push_back(cell);
  std::map<std::string, std::vector<double>> columns;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::size_t i = 0;
    for (std::string cell; std::getline(row, cell, ',') && i < names.size(); ++i) columns[names[i]].push_back(std::stod(cell));
  }
  return columns;
}

}  // namespace qfluct::test

#include "mpi_ranks.hpp"

#include <climits>
#include <cstdlib>
#include <cstdint>
#include <fmt/format.h>
#include <mpi.h>
#include <stdexcept>

namespace qfluct::cli {

namespace {

/// Throws std::runtime_error for an MPI return code other than MPI_SUCCESS, with MPI's text.
/// (MPI_COMM_WORLD's default handler aborts on errors; MPI_ERRORS_RETURN, set below, lets them
/// come back here instead.)
void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  throw std::runtime_error(fmt::format("MPI: {} failed (error {}{}{})", call, code, length > 0 ? ": " : "",
                                       std::string(text, std::size_t(length))));
}

int as_count(std::size_t bytes, const char* what) {
  if (bytes > std::size_t(INT_MAX))
    throw std::runtime_error(fmt::format("MPI: {} of {} bytes is more than one message carries ({})", what, bytes, INT_MAX));
  return int(bytes);
}

}  // namespace

bool launched_by_mpi() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(variable)) return true;
  return false;
}

MpiSession::MpiSession(int& argc, char**& argv) {
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (provided < MPI_THREAD_FUNNELED)
    throw std::runtime_error("MPI: this MPI library does not support MPI_THREAD_FUNNELED (OpenMP threads beside MPI)");
}

MpiSession::~MpiSession() {
  int finalized = 1;
  if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();  // a destructor cannot throw
}

void MpiSession::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; should it, end this process anyway
}

MpiRanks::MpiRanks() {
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

std::vector<std::string> MpiRanks::gather(const std::string& mine) const {
  // A part or total too large throws on the rank that sees it, in the middle of the collective;
  // the program then ends every rank with MPI_Abort (main), so none waits for it forever.
  const int count = as_count(mine.size(), "a gathered part");
  std::vector<int> counts(rank_ == 0 ? std::size_t(size_) : 0), displacements(counts.size());
  check(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::size_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    displacements[r] = as_count(total, "the gathered total");
    total += std::size_t(counts[r]);
  }
  std::string all(std::size_t(as_count(total, "the gathered total")), '\0');
  check(MPI_Gatherv(mine.data(), count, MPI_BYTE, all.data(), counts.data(), displacements.data(), MPI_BYTE, 0,
                    MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> parts;
  for (std::size_t r = 0; r < counts.size(); ++r)
    parts.push_back(all.substr(std::size_t(displacements[r]), std::size_t(counts[r])));
  return parts;
}

std::string MpiRanks::broadcast(const std::string& value) const {
  std::uint64_t size = rank_ == 0 ? value.size() : 0;
  check(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast (size)");
  std::string bytes = rank_ == 0 ? value : std::string(std::size_t(size), '\0');
  check(MPI_Bcast(bytes.data(), as_count(bytes.size(), "a broadcast"), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return bytes;
}

}  // namespace qfluct::cli

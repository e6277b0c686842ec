#pragma once
/// The processes an ensemble is split over (MPI ranks), seen by the library through this
/// interface only: the library needs no MPI, and the command-line program supplies an MPI
/// implementation when built with QFLUCT_ENABLE_MPI (app/mpi_ranks.hpp).
///
/// run_ensemble gives rank r the groups g of each batch with (g - first) % size == r, gathers
/// their results on rank 0 and merges them there in group order, so the numbers are those of a
/// single process for any number of ranks and threads (docs/statistics.md section 1). Every rank
/// must call the collective operations below in the same order.
#include <string>
#include <vector>

namespace qfluct {

class Ranks {
 public:
  virtual ~Ranks() = default;
  /// This process's rank, in [0, size()).
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Collective: every rank passes its bytes; rank 0 gets all ranks' bytes in rank order, the
  /// others an empty vector.
  virtual std::vector<std::string> gather(const std::string& mine) const = 0;
  /// Collective: rank 0's bytes on every rank (`value` is read on rank 0 only).
  virtual std::string broadcast(const std::string& value) const = 0;
};

}  // namespace qfluct

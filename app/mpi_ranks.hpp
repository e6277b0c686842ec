#pragma once
/// MPI for the command-line program (built with QFLUCT_ENABLE_MPI, which defines
/// QFLUCT_HAVE_MPI): the session, and qfluct::Ranks over MPI_COMM_WORLD. Only the main thread
/// calls MPI (OpenMP workers never do), so MPI_THREAD_FUNNELED is all that is asked for.
/// Every MPI error code is checked; a failure throws std::runtime_error naming the call.
#include "qfluct/solver/ranks.hpp"

#include <string>
#include <vector>

namespace qfluct::cli {

/// Whether a process launcher started this process as an MPI rank (mpirun/mpiexec of Open MPI
/// or MPICH, srun with PMI or PMIx), seen in the environment it sets: OMPI_COMM_WORLD_SIZE,
/// PMIX_RANK, PMI_RANK or PMI_SIZE. Otherwise the program leaves MPI alone: MPI_Init in a
/// plain process (a "singleton") would start Open MPI's daemon orted and take a third of a second.
bool launched_by_mpi();

/// MPI_Init_thread in the constructor, MPI_Finalize in the destructor: one per process, created
/// in main after the InterruptGuard (MPI's own threads then inherit its signal mask). Under
/// mpirun every rank creates one; run without mpirun (a singleton) the world has size 1.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  /// Ends every rank with `code` (MPI_Abort): for a failure on one rank while the others may be
  /// waiting in a collective operation for it.
  [[noreturn]] static void abort(int code);
};

/// The ranks of MPI_COMM_WORLD. Requires a live MpiSession.
class MpiRanks final : public Ranks {
 public:
  MpiRanks();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  /// MPI_Gather of the sizes, then MPI_Gatherv of the bytes (each at most INT_MAX bytes, and
  /// their total on rank 0 too: a larger part throws).
  std::vector<std::string> gather(const std::string& mine) const override;
  /// MPI_Bcast of the size, then of the bytes.
  std::string broadcast(const std::string& value) const override;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace qfluct::cli

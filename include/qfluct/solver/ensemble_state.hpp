#pragma once
/// The state of a trajectory ensemble after its first G groups, in a canonical form: the same
/// bits however the groups were run (threads, MPI ranks, interrupted and resumed, extended to
/// more trajectories, or computed as separate pieces and merged). It is what a checkpoint holds.
///
/// Groups are fixed runs of solver.group_size consecutive trajectories. Results combine along
/// one binary tree over the group indices: node(0, g) is group g, node(l, p) is
/// node(l-1, 2p) merged with node(l-1, 2p+1). The jackknife blocks are the complete nodes at the
/// block level k(G) = the smallest k with floor(G / 2^k) < 256 (so 128 to 255 blocks once
/// G >= 128), followed by one block for the remaining G mod 2^k groups (their complete nodes, in
/// order, each of a lower level, merged left to right). Totals are the blocks merged in order.
/// Since a node's bits depend only on its children's, every way of building the state gives the
/// same numbers, and a state of G groups continues to G' > G exactly like a run that planned G'
/// from the start (docs/statistics.md, section 1).
#include "qfluct/core/bytes.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/stats/accumulator.hpp"

#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace qfluct {

/// What a run of consecutive trajectories contributes: moments of the raw records, the largest
/// single-trajectory |value| of each (the heavy-tail check), and the solver's statistics.
struct GroupResult {
  MomentAccumulator moments{1};
  RVec largest;
  TrajectoryStatistics stats;

  /// A result of no trajectories for records of `dim` entries.
  static GroupResult empty(Index dim);
  /// Absorbs the trajectories of `later`, which follow this one's.
  void merge(const GroupResult& later);
  void write(ByteWriter& out) const;
  static GroupResult read(ByteReader& in);
};

/// Builds node(l, p) from its 2^l groups, added in order: a binary counter of the partial nodes.
class GroupStack {
 public:
  void push(GroupResult group);
  /// The single node once the number of groups pushed is a power of two (else invalid_argument).
  GroupResult take();

 private:
  std::vector<std::pair<int, GroupResult>> stack_;
};

class EnsembleState {
 public:
  /// Jackknife blocks are kept below this count by merging them in pairs.
  static constexpr Index block_limit = 256;
  /// k(G): the level of the jackknife blocks for G complete groups.
  static int block_level(long groups);

  /// No groups yet; the block level follows the group count.
  EnsembleState() = default;
  /// A piece of a larger run: groups from `first_group` on, in blocks of the fixed level
  /// `level` (that of the whole run). first_group must be a multiple of 2^level.
  EnsembleState(long first_group, int level);

  /// Appends the next group, number end_group(); or, with `level` > 0, the node of the next
  /// 2^level groups (built by the same merges: GroupStack), which needs end_group() to be a
  /// multiple of 2^level and level <= level() (std::invalid_argument otherwise).
  void add(GroupResult node, int level = 0);
  long first_group() const { return first_; }
  long groups() const { return groups_; }
  long end_group() const { return first_ + groups_; }
  int level() const { return level_; }
  bool is_piece() const { return fixed_; }

  /// Calls `f` for each jackknife block in order: the complete blocks, then the remainder.
  void for_each_block(const std::function<void(const GroupResult&)>& f) const;
  Index block_count() const;
  /// All groups merged (the blocks in order); an empty result of dimension `dim` when there are none.
  GroupResult total(Index dim) const;

  /// A last group with fewer trajectories (ntraj not a multiple of the group size). It is kept
  /// apart: a run extended to more trajectories runs that group whole instead.
  std::optional<GroupResult> partial;
  /// Measurement records (output.records) of the trajectories run so far: (trajectory, T x width).
  std::vector<std::pair<long, Eigen::MatrixXd>> records;
  /// A solver.tol run stopped here because its standard errors were below the tolerance.
  bool tolerance_reached = false;

  void write(ByteWriter& out) const;
  /// Throws std::runtime_error naming `what` when the bytes are not a state.
  static EnsembleState read(ByteReader& in);

  /// The pieces of one run, each covering the groups after the previous one's (in order, the
  /// first from group 0, all of one level), as the state of the whole run: the same bits as the
  /// run made in one go. Throws std::invalid_argument when they do not fit together.
  static EnsembleState concatenate(std::vector<EnsembleState> pieces);

 private:
  long first_ = 0;
  long groups_ = 0;
  int level_ = 0;
  bool fixed_ = false;
  std::vector<GroupResult> blocks_;                 ///< complete nodes at level_
  std::vector<std::pair<int, GroupResult>> tail_;   ///< complete nodes of lower levels, decreasing
};

}  // namespace qfluct

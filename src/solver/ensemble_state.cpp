#include "qfluct/solver/ensemble_state.hpp"

#include <fmt/format.h>
#include <limits>
#include <stdexcept>

namespace qfluct {

namespace {

/// Format of the serialised state; raise on any change of its layout.
constexpr std::int64_t state_format = 1;

void write_statistics(ByteWriter& b, const TrajectoryStatistics& s) {
  for (long v : {s.trajectories, s.jumps, s.taylor_steps, s.taylor_terms, s.root_iterations, s.window_growths,
                 s.sde_steps})
    b.put<std::int64_t>(v);
  b.put<std::int64_t>(s.max_window);
  b.put<std::int64_t>(s.max_levy_area_terms);
  for (double v : {s.max_edge_population, s.max_trimmed_population, s.max_branch_mismatch}) b.put(v);
  b.put(s.jumps_per_channel);
  b.put<std::int64_t>(std::int64_t(s.top_level_population.size()));
  for (const auto& p : s.top_level_population) b.put(RVec(Eigen::Map<const RVec>(p.data(), Index(p.size()))));
}

TrajectoryStatistics read_statistics(ByteReader& r) {
  TrajectoryStatistics s;
  for (long* v : {&s.trajectories, &s.jumps, &s.taylor_steps, &s.taylor_terms, &s.root_iterations, &s.window_growths,
                  &s.sde_steps})
    *v = long(r.get<std::int64_t>());
  s.max_window = Index(r.get<std::int64_t>());
  s.max_levy_area_terms = int(r.get<std::int64_t>());
  for (double* v : {&s.max_edge_population, &s.max_trimmed_population, &s.max_branch_mismatch}) *v = r.get<double>();
  s.jumps_per_channel = r.longs();
  const auto modes = r.get<std::int64_t>();
  if (modes < 0 || modes > 1'000'000) throw std::runtime_error("ensemble state: damaged statistics");
  s.top_level_population.resize(std::size_t(modes));
  for (auto& p : s.top_level_population) {
    const RVec v = r.vec();
    p.assign(v.data(), v.data() + v.size());
  }
  return s;
}

/// The binary counter's carry: while the stack's top node has the level of `node` (below `cap`),
/// the two merge (the earlier one first) into a node one level up. Returns the node and its level.
std::pair<int, GroupResult> carry(std::vector<std::pair<int, GroupResult>>& stack, GroupResult node, int level, int cap) {
  while (level < cap && !stack.empty() && stack.back().first == level) {
    GroupResult left = std::move(stack.back().second);
    stack.pop_back();
    left.merge(node);
    node = std::move(left);
    ++level;
  }
  return {level, std::move(node)};
}

}  // namespace

GroupResult GroupResult::empty(Index dim) { return {MomentAccumulator(dim), RVec::Zero(dim), {}}; }

void GroupResult::merge(const GroupResult& later) {
  moments.merge(later.moments);
  largest = largest.cwiseMax(later.largest);
  stats.merge(later.stats);
}

void GroupResult::write(ByteWriter& out) const {
  out.put<std::int64_t>(moments.count());
  out.put(moments.mean_state());
  out.put(moments.m2_state());
  out.put(largest);
  write_statistics(out, stats);
}

GroupResult GroupResult::read(ByteReader& in) {
  const auto count = Index(in.get<std::int64_t>());
  RVec mean = in.vec(), m2 = in.vec();
  if (count < 0 || mean.size() < 1 || m2.size() != mean.size()) throw std::runtime_error("ensemble state: damaged moments");
  GroupResult g{MomentAccumulator(count, std::move(mean), std::move(m2)), in.vec(), {}};
  if (g.largest.size() != g.moments.dim()) throw std::runtime_error("ensemble state: damaged moments");
  g.stats = read_statistics(in);
  return g;
}

int EnsembleState::block_level(long groups) {
  int k = 0;
  while ((groups >> k) >= block_limit) ++k;
  return k;
}

EnsembleState::EnsembleState(long first_group, int level) : first_(first_group), level_(level), fixed_(true) {
  if (level < 0 || first_group < 0 || first_group % (1L << level) != 0)
    throw std::invalid_argument(fmt::format("a piece must start on a block boundary (group {} at level {})", first_group, level));
}

void GroupStack::push(GroupResult group) {
  stack_.push_back(carry(stack_, std::move(group), 0, std::numeric_limits<int>::max()));
}

GroupResult GroupStack::take() {
  if (stack_.size() != 1) throw std::invalid_argument("a node needs a power of two of groups");
  GroupResult node = std::move(stack_.back().second);
  stack_.clear();
  return node;
}

void EnsembleState::add(GroupResult group, int node_level) {
  if (node_level < 0 || node_level > level_ || end_group() % (1L << node_level) != 0)
    throw std::invalid_argument(fmt::format("a node of level {} cannot follow group {} (block level {})", node_level,
                                            end_group(), level_));
  auto [level, node] = carry(tail_, std::move(group), node_level, level_);
  if (level == level_) blocks_.push_back(std::move(node));
  else tail_.emplace_back(level, std::move(node));
  groups_ += 1L << node_level;
  if (!fixed_ && Index(blocks_.size()) == block_limit) {
    std::vector<GroupResult> merged;
    merged.reserve(blocks_.size() / 2);
    for (std::size_t b = 0; b < blocks_.size(); b += 2) {
      merged.push_back(std::move(blocks_[b]));
      merged.back().merge(blocks_[b + 1]);
    }
    blocks_ = std::move(merged);
    ++level_;
  }
}

void EnsembleState::for_each_block(const std::function<void(const GroupResult&)>& f) const {
  for (const auto& b : blocks_) f(b);
  if (tail_.empty()) return;
  if (tail_.size() == 1) return f(tail_.front().second);
  GroupResult rest = tail_.front().second;
  for (std::size_t i = 1; i < tail_.size(); ++i) rest.merge(tail_[i].second);
  f(rest);
}

Index EnsembleState::block_count() const { return Index(blocks_.size()) + (tail_.empty() ? 0 : 1); }

GroupResult EnsembleState::total(Index dim) const {
  std::optional<GroupResult> sum;
  for_each_block([&](const GroupResult& b) {
    if (sum) sum->merge(b);
    else sum = b;
  });
  return sum ? std::move(*sum) : GroupResult::empty(dim);
}

void EnsembleState::write(ByteWriter& out) const {
  out.put<std::int64_t>(state_format);
  out.put<std::int64_t>(first_);
  out.put<std::int64_t>(groups_);
  out.put<std::int64_t>(level_);
  out.put<std::uint8_t>(fixed_);
  out.put<std::uint8_t>(tolerance_reached);
  out.put<std::int64_t>(std::int64_t(blocks_.size()));
  for (const auto& b : blocks_) b.write(out);
  out.put<std::int64_t>(std::int64_t(tail_.size()));
  for (const auto& [level, node] : tail_) {
    out.put<std::int64_t>(level);
    node.write(out);
  }
  out.put<std::uint8_t>(partial.has_value());
  if (partial) partial->write(out);
  out.put<std::int64_t>(std::int64_t(records.size()));
  for (const auto& [i, m] : records) {
    out.put<std::int64_t>(i);
    out.put<std::int64_t>(m.rows());
    out.put(RVec(m.reshaped()));
  }
}

EnsembleState EnsembleState::read(ByteReader& in) {
  const auto bad = [] { return std::runtime_error("ensemble state: damaged or of another format"); };
  if (in.get<std::int64_t>() != state_format) throw bad();
  EnsembleState s;
  s.first_ = long(in.get<std::int64_t>());
  s.groups_ = long(in.get<std::int64_t>());
  const auto level = in.get<std::int64_t>();
  if (s.first_ < 0 || s.groups_ < 0 || level < 0 || level > 62) throw bad();
  s.level_ = int(level);
  s.fixed_ = in.get<std::uint8_t>() != 0;
  s.tolerance_reached = in.get<std::uint8_t>() != 0;
  const auto blocks = in.get<std::int64_t>();
  if (blocks < 0 || blocks > block_limit) throw bad();
  for (std::int64_t b = 0; b < blocks; ++b) s.blocks_.push_back(GroupResult::read(in));
  const auto tail = in.get<std::int64_t>();
  if (tail < 0 || tail > 64) throw bad();
  for (std::int64_t t = 0; t < tail; ++t) {
    const auto l = in.get<std::int64_t>();
    if (l < 0 || l >= level) throw bad();
    s.tail_.emplace_back(int(l), GroupResult::read(in));
  }
  if (in.get<std::uint8_t>() != 0) s.partial = GroupResult::read(in);
  const auto records = in.get<std::int64_t>();
  if (records < 0) throw bad();
  for (std::int64_t r = 0; r < records; ++r) {
    const long i = long(in.get<std::int64_t>());
    const auto rows = in.get<std::int64_t>();
    const RVec v = in.vec();
    if (rows <= 0 || v.size() % rows != 0) throw bad();
    s.records.emplace_back(i, v.reshaped(rows, v.size() / rows));
  }
  // The counts must be those of the tree: blocks of 2^level groups and one node per set bit of the rest.
  long covered = long(s.blocks_.size()) << s.level_;
  for (const auto& [l, node] : s.tail_) covered += 1L << l;
  if (covered != s.groups_) throw bad();
  return s;
}

EnsembleState EnsembleState::concatenate(std::vector<EnsembleState> pieces) {
  if (pieces.empty()) throw std::invalid_argument("no pieces");
  EnsembleState whole;
  whole.level_ = pieces.front().level_;
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    EnsembleState& piece = pieces[p];
    if (piece.level_ != whole.level_)
      throw std::invalid_argument(fmt::format("piece {} has blocks of level {}, piece 1 of level {}", p + 1, piece.level_, whole.level_));
    if (piece.first_ != whole.end_group())
      throw std::invalid_argument(fmt::format("piece {} starts at group {}, but the pieces before it end at group {}", p + 1,
                                              piece.first_, whole.end_group()));
    if (p + 1 < pieces.size() && (!piece.tail_.empty() || piece.partial))
      throw std::invalid_argument(fmt::format("piece {} ends inside a block, so it cannot be followed by another", p + 1));
    for (auto& b : piece.blocks_) whole.blocks_.push_back(std::move(b));
    whole.tail_ = std::move(piece.tail_);
    whole.partial = std::move(piece.partial);
    whole.groups_ += piece.groups_;
    for (auto& r : piece.records) whole.records.push_back(std::move(r));
  }
  if (whole.level_ != block_level(whole.groups_))
    throw std::invalid_argument(fmt::format("{} groups have blocks of level {}, not {}: pieces are missing", whole.groups_,
                                            block_level(whole.groups_), whole.level_));
  return whole;
}

}  // namespace qfluct

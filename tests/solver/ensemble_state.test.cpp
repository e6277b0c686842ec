// The canonical tree of trajectory groups (solver/ensemble_state.hpp): every way of building the
// state of G groups (one group at a time, in nodes of 2^u groups, in pieces merged afterwards,
// through a checkpoint's bytes) gives the same bits, and run_ensemble continued from a state
// (resume, extend) or assembled from parts equals the run made in one go.
#include "qfluct/core/error.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/ensemble_state.hpp"
#include "qfluct/io/config_file.hpp"
#include "support/config.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

using namespace qfluct;

namespace {

constexpr Index dim = 5;

/// Group g: 1 to 3 samples drawn from a generator seeded by g, with a large common offset so
/// that rounding differences between merge orders would show in the low bits.
GroupResult synthetic_group(long g) {
  std::mt19937_64 rng(std::uint64_t(g) * 7919 + 1);
  std::normal_distribution<double> normal;
  GroupResult r = GroupResult::empty(dim);
  const int n = 1 + int(g % 3);
  for (int k = 0; k < n; ++k) {
    RVec x(dim);
    for (Index i = 0; i < dim; ++i) x(i) = 1e3 + normal(rng) * double(i + 1);
    r.moments.add(x);
    r.largest = r.largest.cwiseMax(x.cwiseAbs());
  }
  r.stats.trajectories = n;
  r.stats.jumps = 2 * n + g % 5;
  r.stats.top_level_population = {{0.1 * double(g), 1e-3 / double(g + 1)}};
  return r;
}

bool same_bits(const GroupResult& a, const GroupResult& b) {
  return a.moments.count() == b.moments.count() && (a.moments.mean_state().array() == b.moments.mean_state().array()).all() &&
         (a.moments.m2_state().array() == b.moments.m2_state().array()).all() && (a.largest.array() == b.largest.array()).all() &&
         a.stats.jumps == b.stats.jumps && a.stats.top_level_population == b.stats.top_level_population;
}

std::vector<GroupResult> blocks_of(const EnsembleState& s) {
  std::vector<GroupResult> out;
  s.for_each_block([&](const GroupResult& b) { out.push_back(b); });
  return out;
}

void check_same_state(const EnsembleState& a, const EnsembleState& b) {
  REQUIRE(a.groups() == b.groups());
  REQUIRE(a.level() == b.level());
  const auto x = blocks_of(a), y = blocks_of(b);
  REQUIRE(x.size() == y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("block " << i);
    CHECK(same_bits(x[i], y[i]));
  }
  CHECK(same_bits(a.total(dim), b.total(dim)));
}

EnsembleState group_by_group(long groups) {
  EnsembleState s;
  for (long g = 0; g < groups; ++g) s.add(synthetic_group(g));
  return s;
}

}  // namespace

TEST_CASE("ensemble state: one group at a time, in tree nodes, in pieces and through bytes, the same bits",
          "[ensemble][checkpoint]") {
  for (long G : {1L, 2L, 7L, 255L, 256L, 300L, 1000L, 1537L}) {
    INFO("G = " << G);
    const EnsembleState one = group_by_group(G);
    // Blocks: 128 to 255 complete ones of 2^k groups once G >= 128 (256 before the first merge).
    const int k = EnsembleState::block_level(G);
    CHECK((G >> k) < EnsembleState::block_limit);
    if (k > 0) CHECK((G >> k) >= EnsembleState::block_limit / 2);
    CHECK(one.block_count() == (G >> k) + (G % (1L << k) != 0 ? 1 : 0));

    // The tree computes the moments of all samples: against one Welford stream, to rounding
    // (the offset 1e3 and ~3000 samples: relative 1e-12 is many ulps of slack, a lost group is not).
    MomentAccumulator stream(dim);
    for (long g = 0; g < G; ++g) {
      std::mt19937_64 rng(std::uint64_t(g) * 7919 + 1);
      std::normal_distribution<double> normal;
      for (int n = 0; n < 1 + int(g % 3); ++n) {
        RVec x(dim);
        for (Index i = 0; i < dim; ++i) x(i) = 1e3 + normal(rng) * double(i + 1);
        stream.add(x);
      }
    }
    const GroupResult total = one.total(dim);
    REQUIRE(total.moments.count() == stream.count());
    for (Index i = 0; i < dim; ++i) {
      CHECK(total.moments.mean(i) == Approx(stream.mean(i)).epsilon(1e-12));
      if (stream.count() > 1) CHECK(total.moments.variance(i) == Approx(stream.variance(i)).epsilon(1e-9));
    }

    // In nodes of 2^u groups, the largest the block level and alignment allow, up to 8.
    EnsembleState nodes;
    for (long g = 0; g < G;) {
      int u = std::min(3, EnsembleState::block_level(g));
      while (u > 0 && (g % (1L << u) != 0 || g + (1L << u) > G)) --u;
      GroupStack stack;
      for (long h = g; h < g + (1L << u); ++h) stack.push(synthetic_group(h));
      nodes.add(stack.take(), u);
      g += 1L << u;
    }
    check_same_state(one, nodes);

    // Pieces (the slices of --part), merged.
    for (int parts : {2, 3, 5}) {
      if (parts > (G >> k)) continue;
      std::vector<EnsembleState> pieces;
      for (int p = 0; p < parts; ++p) {
        const EnsembleSlice slice = ensemble_slice(G, 1, p, parts);
        EnsembleState piece(slice.first, slice.level);
        for (long g = slice.first; g < slice.end; ++g) piece.add(synthetic_group(g));
        pieces.push_back(std::move(piece));
      }
      INFO(parts << " parts");
      check_same_state(one, EnsembleState::concatenate(pieces));
      std::swap(pieces.front(), pieces.back());
      CHECK_THROWS_AS(EnsembleState::concatenate(pieces), std::invalid_argument);
      pieces.pop_back();  // the last part missing
      if (parts > 2) CHECK_THROWS_AS(EnsembleState::concatenate(pieces), std::invalid_argument);
    }

    // Through bytes, and extended afterwards like a run planned longer.
    ByteWriter out;
    one.write(out);
    ByteReader in(out.data(), "test");
    EnsembleState back = EnsembleState::read(in);
    CHECK(in.done());
    check_same_state(one, back);
    for (long g = G; g < G + 300; ++g) back.add(synthetic_group(g));
    check_same_state(group_by_group(G + 300), back);

    // A cut or damaged state is refused, not misread.
    const std::string cut = out.data().substr(0, out.data().size() / 2);
    ByteReader short_in(cut, "test");
    CHECK_THROWS(EnsembleState::read(short_in));
  }
}

TEST_CASE("tolerance check points: fixed group counts, from 64 trajectories, about 16 per doubling", "[ensemble]") {
  for (long gs : {1L, 5L}) {
    long first = 0, count = 0;
    for (long g = 1; g <= 4096; ++g)
      if (tolerance_check_point(g, gs)) {
        if (first == 0) first = g;
        if (g > 1024 && g <= 2048) ++count;
      }
    CHECK(first == std::max(2L, (64 + gs - 1) / gs));
    CHECK(count == 16);
  }
}

TEST_CASE("run_ensemble resumed, extended and assembled from parts equals the run made in one go",
          "[jump][ensemble][checkpoint]") {
  CentralSpinParameters p;  // the Fig. 2 point, N = 5: trajectories of ~100 us
  p.N = 5;
  const CentralSpinModel model(p);
  const auto times = time_grid(1.0, 0.25);
  EnsembleOptions o;
  o.seed = 5;
  o.records = 9;
  for (long gs : {1L, 3L}) {
    o.group_size = gs;
    INFO("group size " << gs);
    o.ntraj = 400;
    const TimeSeries whole = run_ensemble(model, times, o);
    const auto same = [&](const TimeSeries& t) {
      CHECK((t.values.array() == whole.values.array()).all());
      CHECK((t.errors.array() == whole.errors.array()).all());
      REQUIRE(t.records.values.size() == whole.records.values.size());
      for (std::size_t i = 0; i < t.records.values.size(); ++i)
        CHECK((t.records.values[i].array() == whole.records.values[i].array()).all());
      CHECK(t.info["ntraj"] == whole.info["ntraj"]);
      CHECK(t.info["jumps_per_trajectory"] == whole.info["jumps_per_trajectory"]);
    };
    // Extended: 151 trajectories (a short last group for gs = 3), then 400.
    EnsembleOptions first = o;
    first.ntraj = 151;
    EnsembleState saved;
    int calls = 0;
    first.checkpoint = [&](const EnsembleState& s, bool) {
      saved = s;
      ++calls;
    };
    run_ensemble(model, times, first);
    CHECK(calls >= 1);
    CHECK(saved.groups() == 151 / gs);
    CHECK(saved.partial.has_value() == (151 % gs != 0));
    EnsembleOptions more = o;
    more.resume = &saved;
    {
      const TimeSeries extended = run_ensemble(model, times, more);
      same(extended);
      CHECK(extended.info["resumed_groups"] == 151 / gs);
    }
    // Resumed from a state in the middle (chunks grow from 2 groups 4-fold: several callbacks).
    EnsembleOptions chunks = o;
    std::vector<EnsembleState> states;
    chunks.checkpoint = [&](const EnsembleState& s, bool) { states.push_back(s); };
    same(run_ensemble(model, times, chunks));
    REQUIRE(states.size() >= 3);
    more.resume = &states[states.size() / 2];
    same(run_ensemble(model, times, more));
    // Parts: run apart (different chunking), merged.
    std::vector<EnsembleState> pieces;
    for (int part = 0; part < 3; ++part) {
      EnsembleOptions piece = o;
      piece.part = part;
      piece.parts = 3;
      piece.chunk_seconds = part == 1 ? 0.01 : 1.0;  // other chunks and units than the whole run
      piece.checkpoint = [&](const EnsembleState& s, bool) {
        if (pieces.size() == std::size_t(part)) pieces.push_back(s);
        else pieces.back() = s;
      };
      run_ensemble(model, times, piece);
    }
    const EnsembleState merged = EnsembleState::concatenate(pieces);
    more.resume = &merged;
    same(run_ensemble(model, times, more));
    // A state that holds more than ntraj is refused.
    EnsembleOptions fewer = o;
    fewer.ntraj = 100;
    fewer.resume = &merged;
    CHECK_THROWS_AS(run_ensemble(model, times, fewer), InputError);
  }
  SECTION("parts: no tolerance, and no more parts than blocks") {
    o.parts = 3;
    o.tol = 0.1;
    CHECK_THROWS_AS(run_ensemble(model, times, o), InputError);
    o.tol = 0;
    o.ntraj = 4;
    o.parts = 5;
    CHECK_THROWS_AS(run_ensemble(model, times, o), InputError);
  }
}

TEST_CASE("solver.group_size: named errors, the sidecar round trip, ignored by the master equation", "[ensemble][config]") {
  const std::string jump = "[model]\nN = 4\n[solver]\nmethod = \"jump\"\nntraj = 20\n";
  // ntraj = 20 in groups of 20: one group, no jackknife.
  for (const char* bad : {"solver.group_size=0", "solver.group_size=-3", "solver.group_size=1000001", "solver.group_size=2.5",
                          "solver.group_size=20"}) {
    const auto [key, message] = qfluct::test::refusal(jump, {bad});
    INFO(bad << " -> " << message);
    CHECK(key == "solver.group_size");
  }
  const RunConfig c = qfluct::test::config(jump, {"solver.group_size=7"});
  CHECK(c.solver.group_size == 7);
  CHECK(qfluct::test::has_note(c, "jackknife errors"));  // 3 groups
  CHECK(parse_config(parameters_table(c.to_json())).solver.group_size == 7);
  CHECK(qfluct::test::config(jump).solver.group_size == default_group_size);
  const RunConfig master = qfluct::test::config("[model]\nN = 4\n[solver]\ngroup_size = 4\n");
  CHECK(qfluct::test::has_note(master, "solver.group_size"));
}

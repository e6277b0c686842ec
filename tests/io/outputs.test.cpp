// Outputs are all or nothing: the CSV and its sidecar (and the records file, when a run writes
// one) are committed together (README, "Command line"). Checked with the library calls on fabricated leftovers, with forked children that
// interrupt themselves at chosen points, and with real signals sent at random moments to the
// qfluct binary.
#include "io/process.hpp"
#include "qfluct/io/interrupt.hpp"
#include "qfluct/io/output.hpp"
#include "qfluct/io/sha256.hpp"
#include "qfluct/core/error.hpp"

#include <sys/file.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <map>
#include <random>
#include <set>

using namespace qfluct;
using namespace qfluct::test;

namespace {

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

/// A small pair written through the library: CSV text and a sidecar tagged with `tag`.
void write_pair(const OutputPaths& paths, const std::string& csv, const std::string& tag) {
  write_output_pair(paths, [&](std::ostream& out) { out << csv; }, {{"tag", tag}}, nullptr);
}

nlohmann::json sidecar_of(const OutputPaths& paths) { return nlohmann::json::parse(slurp(paths.sidecar)); }

/// The pair is consistent: the sidecar's csv_sha256 is the hash of the CSV's bytes.
bool consistent(const OutputPaths& paths) {
  return sidecar_of(paths)["csv_sha256"].get<std::string>() == file_sha256(paths.csv);
}

/// A set with records: CSV text, records text and a sidecar tagged with `tag`.
void write_set(const OutputPaths& paths, const std::string& csv, const std::string& records, const std::string& tag) {
  write_output_pair(paths, [&](std::ostream& out) { out << csv; }, {{"tag", tag}}, nullptr,
                    [&](std::ostream& out) { out << records; });
}

/// Starts `body` in a forked child (stderr to `err`) that ends with _exit(99) if `body` returns.
template <class Body>
pid_t start_child(const std::string& err, Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDERR_FILENO);
    body();
    ::_exit(99);
  }
  return pid;
}

/// Runs `body` in a forked child as start_child does; returns how the child ended.
template <class Body>
Ending in_child(const std::string& err, Body body) {
  return wait_for(start_child(err, body));
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST_CASE("sha256: the NIST test vectors, whole and in pieces, and sha256sum", "[outputs]") {
  // FIPS 180-2 appendix B and the NIST example values.
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  // One million 'a', fed in uneven pieces: the buffering across block edges must not matter.
  Sha256 h;
  const std::string a(1'000'000, 'a');
  for (std::size_t at = 0, piece = 1; at < a.size(); at += piece, piece = piece % 131 + 7)
    h.update(std::string_view(a).substr(at, piece));
  CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Every length from 0 to 130 bytes (each padding case) against the system's sha256sum.
  ScratchDir s;
  std::string text, expected, ours;
  for (int n = 0; n <= 130; ++n) {
    text.push_back(char('A' + n % 50));
    spit(s.path(fmt::format("m{}", n)), text.substr(0, std::size_t(n)));
    ours += sha256_hex(text.substr(0, std::size_t(n))) + "\n";
  }
  REQUIRE(std::system(fmt::format("cd {} && for n in $(seq 0 130); do sha256sum m$n | cut -c1-64; done > sums",
                                  s.dir.string()).c_str()) == 0);
  CHECK(slurp(s.path("sums")) == ours);
}

TEST_CASE("outputs: a commit writes both files, and the sidecar records the CSV's hash", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  CHECK(sidecar_path(s.path("out.csv")) == s.path("out.json"));
  CHECK(sidecar_path(s.path("out")) == s.path("out.json"));
  CHECK(sidecar_path(s.path("out.txt")) == s.path("out.txt.json"));
  write_pair(paths, "t,x\n0,1\n", "A");
  CHECK(slurp(paths.csv) == "t,x\n0,1\n");
  CHECK(sidecar_of(paths)["tag"] == "A");
  CHECK(sidecar_of(paths)["csv_sha256"] == sha256_hex("t,x\n0,1\n"));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
  write_pair(paths, "t,x\n0,2\n", "B");
  CHECK(slurp(paths.csv) == "t,x\n0,2\n");
  CHECK(sidecar_of(paths)["tag"] == "B");
  CHECK(consistent(paths));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
}

TEST_CASE("outputs: a failure at any step leaves the previous pair and no temporaries", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  write_pair(paths, "old\n", "old");
  const std::string old_csv = slurp(paths.csv), old_json = slurp(paths.sidecar);
  auto unchanged = [&] {
    CHECK(slurp(paths.csv) == old_csv);
    CHECK(slurp(paths.sidecar) == old_json);
  };
  SECTION("the CSV writer throws half way") {
    CHECK_THROWS_WITH(write_output_pair(
                          paths, [](std::ostream& out) { out << "half"; throw std::runtime_error("cut"); }, {}, nullptr),
                      "cut");
    unchanged();
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
  }
  SECTION("the sidecar cannot replace its target (a directory appeared there)") {
    const OutputPaths blocked{s.path("b.csv"), s.path("b.json")};
    write_pair(blocked, "old\n", "old");
    fs::remove(blocked.sidecar);
    fs::create_directory(blocked.sidecar);
    spit(blocked.sidecar + "/keep", "x");
    CHECK_THROWS_WITH(write_pair(blocked, "new\n", "new"), Catch::Contains("cannot replace " + blocked.sidecar));
    CHECK(slurp(blocked.csv) == old_csv);  // item 5: the CSV is not touched when the sidecar fails
    CHECK(fs::is_directory(blocked.sidecar));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "b.csv", "b.json"});
  }
  SECTION("the CSV cannot replace its target after the sidecar did: the old sidecar is put back") {
    const OutputPaths blocked{s.path("c.csv"), s.path("c.json")};
    write_pair(blocked, "old\n", "old");
    const std::string c_json = slurp(blocked.sidecar);
    fs::remove(blocked.csv);
    fs::create_directory(blocked.csv);
    spit(blocked.csv + "/keep", "x");
    CHECK_THROWS_WITH(write_pair(blocked, "new\n", "new"), Catch::Contains("cannot replace " + blocked.csv));
    CHECK(slurp(blocked.sidecar) == c_json);
    CHECK(fs::is_directory(blocked.csv));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "c.csv", "c.json"});
  }
  SECTION("no previous sidecar: a CSV that cannot be replaced leaves no new sidecar either") {
    const OutputPaths blocked{s.path("d.csv"), s.path("d.json")};
    fs::create_directory(blocked.csv);
    CHECK_THROWS(write_pair(blocked, "new\n", "new"));
    CHECK(!fs::exists(blocked.sidecar));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "d.csv"});
  }
}

TEST_CASE("outputs: the next run completes or removes what a killed run left", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  // Pairs A (in place) and B (made elsewhere), as a killed commit of B would leave them.
  write_pair(paths, "t,x\n0,1\n", "A");
  const std::string a_csv = slurp(paths.csv), a_json = slurp(paths.sidecar);
  const OutputPaths elsewhere{s.path("b.csv"), s.path("b.json")};
  write_pair(elsewhere, "t,x\n0,2\n", "B");
  const std::string b_csv = slurp(elsewhere.csv), b_json = slurp(elsewhere.sidecar);
  fs::remove(elsewhere.csv), fs::remove(elsewhere.sidecar);
  const long dead = dead_pid();
  const std::string temp = fmt::format("{}.tmp.{}", paths.csv, dead), json_temp = fmt::format("{}.tmp.{}", paths.sidecar, dead);
  const std::string backup = fmt::format("{}.old.{}", paths.sidecar, dead);

  SECTION("nothing left: nothing to do") {
    CHECK(recover_output_location(paths).empty());
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
  }
  SECTION("killed between the renames: the new sidecar is in place, the new CSV in its temporary") {
    spit(paths.sidecar, b_json);
    spit(temp, b_csv);
    spit(backup, a_json);
    REQUIRE(!consistent(paths));
    const auto notes = recover_output_location(paths);
    CHECK(slurp(paths.csv) == b_csv);
    CHECK(slurp(paths.sidecar) == b_json);
    CHECK(consistent(paths));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("completed the output pair"));
    CHECK_THAT(notes[1], Catch::Contains("removed 1 file(s)") && Catch::Contains(fs::path(backup).filename().string()));
  }
  SECTION("the same without a previous pair (first run killed between the renames)") {
    fs::remove(paths.csv);
    spit(paths.sidecar, b_json);
    spit(temp, b_csv);
    recover_output_location(paths);
    CHECK(slurp(paths.csv) == b_csv);
    CHECK(consistent(paths));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
  }
  SECTION("between the renames, the new CSV lost: the backup of the old sidecar is put back") {
    spit(paths.sidecar, b_json);
    spit(backup, a_json);
    spit(temp, "t,x\n0,");  // a different run's partial CSV: not the one the sidecar names
    const auto notes = recover_output_location(paths);
    CHECK(slurp(paths.csv) == a_csv);
    CHECK(slurp(paths.sidecar) == a_json);
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
    CHECK_THAT(notes.front(), Catch::Contains("restored the sidecar"));
  }
  SECTION("killed while writing: partial temporaries go, the pair stays") {
    spit(temp, "t,x\n0,");
    spit(json_temp, "{\"ta");
    spit(backup, a_json);
    const auto notes = recover_output_location(paths);
    CHECK(slurp(paths.csv) == a_csv);
    CHECK(slurp(paths.sidecar) == a_json);
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
    REQUIRE(notes.size() == 1);
    CHECK_THAT(notes[0], Catch::Contains("removed 3 file(s)"));
  }
  SECTION("files of live processes and other names are left alone") {
    // PID 1 always runs; our own PID is ours. Neither is a dead run's.
    const std::vector<std::string> kept = {paths.csv + ".tmp.1", paths.sidecar + ".tmp.1", paths.records + ".tmp.1",
                                           paths.records + ".old.1",
                                           fmt::format("{}.tmp.{}", paths.csv, ::getpid()), paths.csv + ".tmp.x1",
                                           paths.csv + ".tmp.", paths.csv + ".tmp.-5", s.path("other.csv.tmp." + std::to_string(dead))};
    for (const auto& k : kept) spit(k, "x");
    spit(paths.sidecar, b_json);  // a mismatch with no temporary to complete it: left as it is
    CHECK(recover_output_location(paths).empty());
    spit(temp, "t,x\n0,");
    const auto notes = recover_output_location(paths);
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("does not match"));
    CHECK(slurp(paths.sidecar) == b_json);
    CHECK(slurp(paths.csv) == a_csv);
    for (const auto& k : kept) CHECK(fs::exists(k));
    CHECK(!fs::exists(temp));
  }
}

TEST_CASE("outputs: the next qfluct run tidies what a killed run left, and bad input leaves it as it is", "[outputs]") {
  ScratchDir s;
  std::string err;
  const std::string fig2 = std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml";
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  auto run = [&](const std::string& set) {
    return run_qfluct({"run", fig2, "--set", "model.N=2", "--set", "output.t_end=0.2", "--set", set, "-o", paths.csv}, err, s);
  };
  REQUIRE(run("model.g0=4").code == 0);
  // A run killed between its renames: its sidecar in place, its CSV in the temporary.
  const std::string old_csv = slurp(paths.csv);
  REQUIRE(run("model.g0=3").code == 0);
  const std::string new_csv = slurp(paths.csv), new_json = slurp(paths.sidecar);
  const long dead = dead_pid();
  spit(paths.csv, old_csv);
  spit(fmt::format("{}.tmp.{}", paths.csv, dead), new_csv);
  spit(fmt::format("{}.tmp.{}", paths.sidecar, dead), "{\"cut");
  const auto before = listing(s.dir);
  REQUIRE(before.size() == 6);  // out.csv, out.json, two temporaries, stdout.txt, stderr.txt
  // Bad input: exit 2, nothing touched.
  CHECK(run("model.N=0").code == 2);
  CHECK(listing(s.dir) == before);
  CHECK(slurp(paths.csv) == old_csv);
  // A good run: the pair is completed, the leftovers go (with notes), then its own pair is written.
  REQUIRE(run("model.g0=2").code == 0);
  CHECK_THAT(err, Catch::Contains("qfluct: note: completed the output pair " + paths.csv));
  CHECK_THAT(err, Catch::Contains("qfluct: note: removed 1 file(s) left in " + s.dir.string() + " by runs that died"));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "stdout.txt", "stderr.txt"});
  CHECK(consistent(paths));
  CHECK(slurp(paths.csv) != new_csv);
  CHECK(slurp(paths.csv) != old_csv);
}

TEST_CASE("interruptions: deferred through a commit, temporaries removed, ignored once finished", "[outputs]") {
  ScratchDir s;
  const std::string err = s.path("err.txt");
  SECTION("a signal during a deferral is acted on at its end, exit 128 + signal") {
    const Ending e = in_child(err, [&] {
      InterruptGuard guard;
      {
        const auto lock = guard.defer();
        ::kill(::getpid(), SIGTERM);
        sleep_ms(100);  // the watcher has the signal by now and waits for the lock
        spit(s.path("inside"), "done");
      }
      sleep_ms(5000);
    });
    CHECK(!e.signaled);
    CHECK(e.code == 143);
    CHECK(slurp(s.path("inside")) == "done");
    CHECK(slurp(err) == "qfluct: interrupted by SIGTERM; output files left as they were\n");
  }
  SECTION("tracked temporaries are removed, others kept") {
    const Ending e = in_child(err, [&] {
      InterruptGuard guard;
      {
        const auto lock = guard.defer();
        spit(s.path("tracked"), "x");
        guard.track(s.path("tracked"));
        spit(s.path("untracked"), "x");
        spit(s.path("forgotten"), "x");
        guard.track(s.path("forgotten"));
        guard.untrack(s.path("forgotten"));
      }
      ::kill(::getpid(), SIGINT);
      sleep_ms(5000);
    });
    CHECK(e.code == 130);
    CHECK(listing(s.dir) == std::set<std::string>{"err.txt", "untracked", "forgotten"});
    CHECK(slurp(err) == "qfluct: interrupted by SIGINT; output files left as they were\n");
  }
  SECTION("after finish() an interruption is ignored") {
    const Ending e = in_child(err, [&] {
      InterruptGuard guard;
      {
        const auto lock = guard.defer();
        guard.finish();
      }
      ::kill(::getpid(), SIGINT);
      ::kill(::getpid(), SIGHUP);
      sleep_ms(200);
    });
    CHECK(e.code == 99);
    CHECK(slurp(err).empty());
  }
  SECTION("a signal while the CSV is written: the previous pair stays, no temporary is left") {
    const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
    write_pair(paths, "old\n", "old");
    const std::string old_csv = slurp(paths.csv), old_json = slurp(paths.sidecar);
    const Ending e = in_child(err, [&] {
      InterruptGuard guard;
      write_output_pair(
          paths,
          [&](std::ostream& out) {
            out << std::string(1 << 20, 'x') << std::flush;  // on disk in the temporary
            ::kill(::getpid(), SIGTERM);
            sleep_ms(5000);
          },
          {}, &guard);
    });
    CHECK(e.code == 143);
    CHECK(slurp(paths.csv) == old_csv);
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(listing(s.dir) == std::set<std::string>{"err.txt", "out.csv", "out.json"});
  }
}

namespace {

/// One configuration of the signal test: a run whose CSV (about 2 MB) takes a good part of its
/// 0.1 s to write, so that random moments fall in the computation, the writing and the commit.
std::vector<std::string> signal_run(const std::string& g0, const std::string& out) {
  return {"run",          std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml",
          "--set",        "model.N=2",
          "--set",        "output.t_end=6",
          "--set",        "output.dt=0.0005",
          "--set",        "model.g0=" + g0,
          "-o",           out,
          "--quiet"};
}

}  // namespace

TEST_CASE("outputs: real signals at random moments leave the old pair or the new one", "[outputs][signals]") {
  ScratchDir s;
  std::string err;
  // Reference pairs for the two parameter sets A and B, from uninterrupted runs.
  struct Reference {
    std::string g0, csv, config_sha256;
  };
  std::vector<Reference> refs;
  double longest = 0;
  for (const std::string g0 : {"4", "3"}) {
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(run_qfluct(signal_run(g0, s.path("ref.csv")), err, s).code == 0);
    longest = std::max(longest, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    refs.push_back({g0, slurp(s.path("ref.csv")), nlohmann::json::parse(slurp(s.path("ref.json")))["config_sha256"]});
  }
  REQUIRE(refs[0].csv != refs[1].csv);
  fs::create_directory(s.path("loc"));
  const OutputPaths paths{s.path("loc/out.csv"), s.path("loc/out.json")};
  REQUIRE(run_qfluct(signal_run("4", paths.csv), err, s).code == 0);

  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::map<std::string, int> outcomes;
  for (const int sig : {SIGINT, SIGTERM, SIGKILL}) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      const std::string old_csv = slurp(paths.csv), old_json = slurp(paths.sidecar);
      const Reference& target = old_csv == refs[0].csv ? refs[1] : refs[0];
      const pid_t pid = spawn_qfluct(signal_run(target.g0, paths.csv), s.path("out.txt"), s.path("err.txt"));
      if (attempt % 2 == 0) {
        // Any moment of the run (and a little after it).
        sleep_ms(int(std::uniform_real_distribution<double>(0, 1200 * longest)(rng)));
      } else {
        // The writing phase: once a temporary has content, then a little later.
        for (int poll = 0; poll < 5000; ++poll) {
          std::error_code ec;
          bool writing = false;
          for (const auto& name : listing(s.path("loc")))
            writing |= name.find(".tmp.") != std::string::npos && fs::file_size(s.path("loc/" + name), ec) > 0 &&
                       !ec;
          if (writing) break;
          sleep_ms(1);
        }
        sleep_ms(int(std::uniform_int_distribution<int>(0, 15)(rng)));
      }
      ::kill(pid, sig);
      const Ending e = wait_for(pid);
      INFO("signal " << sig << ", attempt " << attempt << ": exit " << e.code << ", killed by " << e.signal);
      // Exit: 128 + signal; 0 when the signal came after the commit; killed by the signal itself
      // only before main could block it (nothing written yet); SIGKILL always kills.
      const bool interrupted = !e.signaled && e.code == 128 + sig;
      CHECK((interrupted || (!e.signaled && e.code == 0) || (e.signaled && e.signal == sig)));
      if (interrupted)
        CHECK(slurp(s.path("err.txt")) ==
              fmt::format("qfluct: interrupted by {}; output files left as they were\n", sig == SIGINT ? "SIGINT" : "SIGTERM"));
      if (sig == SIGKILL) {
        // The one window: between the two renames the new sidecar stands beside the old CSV,
        // whose new version waits complete in its temporary. The next run completes it.
        const std::string csv = slurp(paths.csv), json = slurp(paths.sidecar);
        const bool cut_between = csv == old_csv && json != old_json;
        if (cut_between) {
          bool temp_has_new = false;
          for (const auto& name : listing(s.path("loc")))
            temp_has_new |= name.find("out.csv.tmp.") == 0 && slurp(s.path("loc/" + name)) == target.csv;
          CHECK(temp_has_new);
          ++outcomes["killed between the renames"];
        }
        recover_output_location(paths);
      }
      // No temporaries; the old pair unchanged, or the new pair, consistent.
      CHECK(listing(s.path("loc")) == std::set<std::string>{"out.csv", "out.json"});
      const std::string csv = slurp(paths.csv), json = slurp(paths.sidecar);
      const auto sidecar = nlohmann::json::parse(json);
      CHECK(sidecar["csv_sha256"] == sha256_hex(csv));
      if (csv == old_csv) {
        CHECK(json == old_json);
        CHECK(!(e.code == 0 && !e.signaled));  // a run that exits 0 has committed
        ++outcomes["old pair"];
      } else {
        CHECK(csv == target.csv);
        CHECK(sidecar["config_sha256"] == target.config_sha256);
        ++outcomes["new pair"];
      }
    }
  }
  for (const auto& [what, count] : outcomes) UNSCOPED_INFO(what << ": " << count);
  CHECK(outcomes["old pair"] + outcomes["new pair"] == 24);
}

// The records file (output.records): a third member of the set, named by records_sha256.

TEST_CASE("outputs: with records, the three files are committed together and the sidecar names both hashes", "[outputs]") {
  ScratchDir s;
  CHECK(records_path(s.path("out.csv")) == s.path("out.records.csv"));
  CHECK(records_path(s.path("out")) == s.path("out.records.csv"));
  CHECK(records_path(s.path("out.txt")) == s.path("out.txt.records.csv"));
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  CHECK(paths.records == s.path("out.records.csv"));  // derived when not given
  const std::string csv_a = "t,x\n0,1\n", rec_a = "traj,t,J\n0,0,0.5\n";
  write_set(paths, csv_a, rec_a, "A");
  CHECK(slurp(paths.csv) == csv_a);
  CHECK(slurp(paths.records) == rec_a);
  CHECK(sidecar_of(paths)["tag"] == "A");
  // Against the hashes of the texts themselves (sha256_hex is checked against NIST above).
  CHECK(sidecar_of(paths)["csv_sha256"] == sha256_hex(csv_a));
  CHECK(sidecar_of(paths)["records_sha256"] == sha256_hex(rec_a));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "out.records.csv"});
  // A second run replaces all three.
  const std::string csv_b = "t,x\n0,2\n", rec_b = "traj,t,J\n0,0,-1.5\n1,0,2\n";
  write_set(paths, csv_b, rec_b, "B");
  CHECK(slurp(paths.csv) == csv_b);
  CHECK(slurp(paths.records) == rec_b);
  CHECK(sidecar_of(paths)["tag"] == "B");
  CHECK(sidecar_of(paths)["records_sha256"] == sha256_hex(rec_b));
  CHECK(consistent(paths));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "out.records.csv"});
  // Empty records (K = 0 rows) are a file like any other.
  write_set(paths, csv_a, "", "C");
  CHECK(slurp(paths.records).empty());
  CHECK(sidecar_of(paths)["records_sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("outputs: a run without records removes the records file of an earlier run", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  write_set(paths, "t,x\n0,1\n", "traj,t,J\n0,0,0.5\n", "A");
  REQUIRE(fs::exists(paths.records));
  write_pair(paths, "t,x\n0,2\n", "B");
  CHECK(slurp(paths.csv) == "t,x\n0,2\n");
  CHECK(sidecar_of(paths)["tag"] == "B");
  CHECK(!sidecar_of(paths).contains("records_sha256"));
  CHECK(consistent(paths));
  CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
  // A records_sha256 handed in by the caller without records is not kept: it would name no file.
  write_output_pair(paths, [](std::ostream& out) { out << "t\n"; }, {{"records_sha256", "ab"}}, nullptr);
  CHECK(!sidecar_of(paths).contains("records_sha256"));
  // A directory of that name is not an earlier run's records: left alone.
  fs::create_directory(paths.records);
  write_pair(paths, "t,x\n0,3\n", "C");
  CHECK(fs::is_directory(paths.records));
  CHECK(consistent(paths));
}

TEST_CASE("outputs: a failure with records leaves the previous set and no temporaries", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  write_set(paths, "old\n", "old records\n", "old");
  const std::string old_csv = slurp(paths.csv), old_json = slurp(paths.sidecar), old_rec = slurp(paths.records);
  const std::set<std::string> three = {"out.csv", "out.json", "out.records.csv"};
  auto unchanged = [&] {
    CHECK(slurp(paths.csv) == old_csv);
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(slurp(paths.records) == old_rec);
  };
  SECTION("the records writer throws half way") {
    CHECK_THROWS_WITH(write_output_pair(
                          paths, [](std::ostream& out) { out << "new\n"; }, {}, nullptr,
                          [](std::ostream& out) { out << "half"; throw std::runtime_error("cut"); }),
                      "cut");
    unchanged();
    CHECK(listing(s.dir) == three);
  }
  SECTION("the records cannot replace their target (a directory appeared there): sidecar put back, CSV untouched") {
    fs::remove(paths.records);
    fs::create_directory(paths.records);
    spit(paths.records + "/keep", "x");
    CHECK_THROWS_WITH(write_set(paths, "new\n", "new records\n", "new"), Catch::Contains("cannot replace " + paths.records));
    CHECK(slurp(paths.csv) == old_csv);
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(slurp(paths.records + "/keep") == "x");
    CHECK(listing(s.dir) == three);
  }
  SECTION("the CSV cannot replace its target after the sidecar and the records did: both are put back") {
    fs::remove(paths.csv);
    fs::create_directory(paths.csv);
    spit(paths.csv + "/keep", "x");
    CHECK_THROWS_WITH(write_set(paths, "new\n", "new records\n", "new"), Catch::Contains("cannot replace " + paths.csv));
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(slurp(paths.records) == old_rec);
    CHECK(fs::is_directory(paths.csv));
    CHECK(listing(s.dir) == three);
  }
  SECTION("the same for a run without records: the earlier records file is put back, not removed") {
    fs::remove(paths.csv);
    fs::create_directory(paths.csv);
    CHECK_THROWS_WITH(write_pair(paths, "new\n", "new"), Catch::Contains("cannot replace " + paths.csv));
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(slurp(paths.records) == old_rec);
    CHECK(listing(s.dir) == three);
  }
  SECTION("no previous records: a CSV that cannot be replaced leaves no new records either") {
    const OutputPaths fresh{s.path("d.csv"), s.path("d.json")};
    write_pair(fresh, "old\n", "old");
    const std::string d_json = slurp(fresh.sidecar);
    fs::remove(fresh.csv);
    fs::create_directory(fresh.csv);
    CHECK_THROWS(write_set(fresh, "new\n", "new records\n", "new"));
    CHECK(slurp(fresh.sidecar) == d_json);
    CHECK(!fs::exists(fresh.records));
    auto expected = three;
    expected.insert({"d.csv", "d.json"});
    CHECK(listing(s.dir) == expected);
  }
}

TEST_CASE("outputs: the next run completes or restores the records a killed run left", "[outputs]") {
  ScratchDir s;
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  // Set A (with records) in place; sets B (with records) and C (without) made elsewhere, as a
  // killed commit of B or C would leave them.
  write_set(paths, "t,x\n0,1\n", "rec A\n", "A");
  const std::string a_csv = slurp(paths.csv), a_json = slurp(paths.sidecar), a_rec = slurp(paths.records);
  const OutputPaths b{s.path("b.csv"), s.path("b.json")};
  write_set(b, "t,x\n0,2\n", "rec B\n", "B");
  const std::string b_csv = slurp(b.csv), b_json = slurp(b.sidecar), b_rec = slurp(b.records);
  const OutputPaths c{s.path("c.csv"), s.path("c.json")};
  write_pair(c, "t,x\n0,3\n", "C");
  const std::string c_csv = slurp(c.csv), c_json = slurp(c.sidecar);
  for (const auto* p : {&b, &c}) fs::remove(p->csv), fs::remove(p->sidecar), fs::remove(p->records);
  REQUIRE(listing(s.dir) == std::set<std::string>{"out.csv", "out.json", "out.records.csv"});
  const long dead = dead_pid();
  auto named = [&](const std::string& path, const char* kind) { return fmt::format("{}.{}.{}", path, kind, dead); };
  const std::string csv_temp = named(paths.csv, "tmp"), rec_temp = named(paths.records, "tmp");
  const std::string json_backup = named(paths.sidecar, "old"), rec_backup = named(paths.records, "old");
  const std::set<std::string> three = {"out.csv", "out.json", "out.records.csv"};
  auto is_set_b = [&] {
    CHECK(slurp(paths.csv) == b_csv);
    CHECK(slurp(paths.sidecar) == b_json);
    CHECK(slurp(paths.records) == b_rec);
    CHECK(sidecar_of(paths)["records_sha256"] == file_sha256(paths.records));
    CHECK(consistent(paths));
    CHECK(listing(s.dir) == three);
  };
  auto is_set_a = [&] {
    CHECK(slurp(paths.csv) == a_csv);
    CHECK(slurp(paths.sidecar) == a_json);
    CHECK(slurp(paths.records) == a_rec);
    CHECK(listing(s.dir) == three);
  };

  SECTION("killed after the sidecar's rename: records and CSV completed from their temporaries") {
    spit(paths.sidecar, b_json);
    spit(rec_temp, b_rec);
    spit(csv_temp, b_csv);
    spit(json_backup, a_json);
    const auto notes = recover_output_location(paths);
    is_set_b();
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("completed the output pair " + paths.csv) &&
                             Catch::Contains("with the records " + paths.records));
    CHECK_THAT(notes[1], Catch::Contains("removed 1 file(s)") && Catch::Contains(fs::path(json_backup).filename().string()));
  }
  SECTION("killed with the old records moved aside, before the new ones' rename") {
    spit(paths.sidecar, b_json);
    fs::remove(paths.records);
    spit(rec_backup, a_rec);
    spit(rec_temp, b_rec);
    spit(csv_temp, b_csv);
    spit(json_backup, a_json);
    const auto notes = recover_output_location(paths);
    is_set_b();
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[1], Catch::Contains("removed 2 file(s)"));
  }
  SECTION("killed after the records' rename: the CSV completed") {
    spit(paths.sidecar, b_json);
    spit(paths.records, b_rec);
    spit(rec_backup, a_rec);
    spit(csv_temp, b_csv);
    spit(json_backup, a_json);
    const auto notes = recover_output_location(paths);
    is_set_b();
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("completed the output pair") && !Catch::Contains("records"));
  }
  SECTION("a run without records killed between its renames: the CSV completed, the earlier records removed") {
    spit(paths.sidecar, c_json);
    spit(csv_temp, c_csv);
    spit(json_backup, a_json);
    const auto notes = recover_output_location(paths);
    CHECK(slurp(paths.csv) == c_csv);
    CHECK(slurp(paths.sidecar) == c_json);
    CHECK(consistent(paths));
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("removed " + paths.records + ", which belonged to an earlier run"));
  }
  SECTION("the new CSV lost: the previous sidecar and records are put back from their backups") {
    spit(paths.sidecar, b_json);
    spit(paths.records, b_rec);
    spit(rec_backup, a_rec);
    spit(json_backup, a_json);
    spit(csv_temp, "t,x\n0,");  // a different run's partial CSV
    const auto notes = recover_output_location(paths);
    is_set_a();
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains("restored the sidecar " + paths.sidecar) &&
                             Catch::Contains("and its records " + paths.records));
  }
  SECTION("the new CSV lost, and the previous set had no records: the cut run's records go") {
    write_pair(paths, "t,x\n0,4\n", "D");  // in place now: a set without records
    const std::string d_csv = slurp(paths.csv), d_json = slurp(paths.sidecar);
    spit(paths.sidecar, b_json);
    spit(paths.records, b_rec);
    spit(json_backup, d_json);
    spit(csv_temp, "t,x\n0,");
    const auto notes = recover_output_location(paths);
    CHECK(slurp(paths.csv) == d_csv);
    CHECK(slurp(paths.sidecar) == d_json);
    CHECK(listing(s.dir) == std::set<std::string>{"out.csv", "out.json"});
    CHECK_THAT(notes.front(), Catch::Contains("restored the sidecar") && Catch::Contains("written by the cut run"));
  }
  SECTION("records that match nothing, with no temporary to complete them: left as they are") {
    spit(paths.sidecar, b_json);
    spit(paths.csv, b_csv);
    spit(rec_temp, "rec ");  // partial: not the records the sidecar names
    const auto notes = recover_output_location(paths);
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[0], Catch::Contains(paths.records + " does not match the records_sha256 of " + paths.sidecar));
    CHECK(slurp(paths.records) == a_rec);
    CHECK(slurp(paths.sidecar) == b_json);
    CHECK(listing(s.dir) == three);
  }
  SECTION("killed while writing: partial records temporaries go, the set stays") {
    spit(rec_temp, "rec ");
    spit(csv_temp, "t,x");
    const auto notes = recover_output_location(paths);
    is_set_a();
    REQUIRE(notes.size() == 1);
    CHECK_THAT(notes[0], Catch::Contains("removed 2 file(s)"));
  }
}

TEST_CASE("outputs: -o whose records file is a directory, a FIFO or the config is refused", "[outputs]") {
  ScratchDir s;
  const std::string config = s.path("config.toml");
  spit(config, "x = 1\n");
  const std::string out = s.path("out.csv"), records = s.path("out.records.csv");
  auto refusal = [&](const std::string& csv, const std::string& cfg) -> std::string {
    try {
      check_output_location(csv, cfg, nullptr);
    } catch (const InputError& e) {
      CHECK(e.key() == "-o");
      return e.what();
    }
    return "accepted";
  };
  const OutputPaths ok = check_output_location(out, config, nullptr);
  CHECK(ok.records == records);
  SECTION("a directory") {
    fs::create_directory(records);
    CHECK(refusal(out, config) ==
          fmt::format("-o: the records file of '{}', '{}', is a directory; give a file name such as {}/out.csv", out,
                      records, records));
    CHECK(fs::is_empty(records));
  }
  SECTION("a FIFO") {
    REQUIRE(::mkfifo(records.c_str(), 0644) == 0);
    CHECK_THAT(refusal(out, config), Catch::Contains("the records file of '" + out + "'") &&
                                         Catch::Contains("exists and is not a regular file"));
  }
  SECTION("the config file itself (OUT.records.csv given as the config)") {
    spit(records, "x = 1\n");
    CHECK_THAT(refusal(out, records), Catch::Contains("-o: the records file of '" + out + "', '" + records +
                                                      "', is the config file"));
  }
  CHECK(listing(s.dir).count("out.csv") == 0);  // nothing written
}

TEST_CASE("interruptions: a signal while a commit with records waits for the directory lock is deferred past it", "[outputs]") {
  ScratchDir s;
  const std::string err = s.path("err.txt");
  const OutputPaths paths{s.path("out.csv"), s.path("out.json")};
  write_set(paths, "old\n", "old records\n", "old");
  const std::string old_csv = slurp(paths.csv), old_json = slurp(paths.sidecar), old_rec = slurp(paths.records);
  // (signal, the child writes records): SIGHUP for a commit that removes the earlier records.
  for (const auto& [sig, with_records] : {std::pair{SIGTERM, true}, std::pair{SIGINT, true}, std::pair{SIGHUP, false}}) {
    INFO("signal " << sig << ", records " << with_records);
    write_set(paths, "old\n", "old records\n", "old");
    // Hold the commit's lock (flock on the directory): the child stops inside its deferral,
    // before the first rename, and the signal arrives there.
    const int lock_fd = ::open(s.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(::flock(lock_fd, LOCK_EX) == 0);
    const pid_t pid = start_child(err, [&, with_records = with_records] {
      ::close(lock_fd);  // the parent's lock must go when the parent lets it go
      InterruptGuard guard;
      auto csv = [](std::ostream& out) { out << "new\n"; };
      if (with_records)
        write_output_pair(paths, csv, {{"tag", "new"}}, &guard, [](std::ostream& out) { out << "new records\n"; });
      else
        write_output_pair(paths, csv, {{"tag", "new"}}, &guard);
    });
    // The child's sidecar temporary complete: the child is at (or just before) the lock.
    const std::string json_temp = fmt::format("{}.tmp.{}", paths.sidecar, pid);
    bool written = false;
    for (int poll = 0; poll < 5000 && !written; ++poll) {
      const auto j = nlohmann::json::parse(slurp(json_temp), nullptr, false);
      written = !j.is_discarded() && j.is_object() && j.contains("csv_sha256");
      if (!written) sleep_ms(1);
    }
    REQUIRE(written);
    sleep_ms(100);  // from fill()'s return to the lock: no work in between
    ::kill(pid, sig);
    sleep_ms(100);  // the watcher has the signal by now, and waits for the deferral
    // Nothing acted on: the old set in place, the child's temporaries still there.
    CHECK(slurp(paths.csv) == old_csv);
    CHECK(slurp(paths.sidecar) == old_json);
    CHECK(slurp(paths.records) == old_rec);
    CHECK(fs::exists(fmt::format("{}.tmp.{}", paths.csv, pid)));
    CHECK(fs::exists(fmt::format("{}.tmp.{}", paths.records, pid)) == with_records);
    ::close(lock_fd);
    const Ending e = wait_for(pid);
    // The commit ran whole and finished; the signal came after finish(), so it is ignored.
    CHECK(!e.signaled);
    CHECK(e.code == 99);
    CHECK(slurp(err).empty());
    CHECK(slurp(paths.csv) == "new\n");
    CHECK(sidecar_of(paths)["tag"] == "new");
    CHECK(consistent(paths));
    if (with_records) {
      CHECK(slurp(paths.records) == "new records\n");
      CHECK(sidecar_of(paths)["records_sha256"] == sha256_hex("new records\n"));
      CHECK(listing(s.dir) == std::set<std::string>{"err.txt", "out.csv", "out.json", "out.records.csv"});
    } else {
      CHECK(listing(s.dir) == std::set<std::string>{"err.txt", "out.csv", "out.json"});
    }
  }
}

#include "checkpoints.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/kernel_variant.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/version.hpp"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <map>

namespace qfluct::cli {

void CheckpointOptions::add_to(CLI::App& cmd) {
  checkpoint_option = cmd.add_option("--checkpoint", checkpoint,
                                     "save the trajectory ensemble's state to this file (every --checkpoint-every "
                                     "seconds, at the end, and when SIGINT/SIGTERM/SIGHUP stops the run)");
  every_option = cmd.add_option("--checkpoint-every", every, "seconds between two checkpoints (default 60; 0: after "
                                                              "every chunk of trajectories)");
  resume_option = cmd.add_option("--resume", resume, "continue the run saved in this checkpoint (and keep saving to "
                                                     "it unless --checkpoint names another file)");
  extend_option = cmd.add_option("--extend", extend, "with --resume: run up to NTRAJ trajectories in all (sets "
                                                     "solver.ntraj); the result equals a run planned with NTRAJ");
  part_option = cmd.add_option("--part", part_spec, "I/P: run only the I-th (1..P) of P slices of the plan into "
                                                    "--checkpoint; combine the pieces with qfluct merge");
}

bool CheckpointOptions::any() const {
  return checkpoint_option->count() || every_option->count() || resume_option->count() || extend_option->count() ||
         part_option->count();
}

std::string CheckpointOptions::path() const {
  if (checkpoint_option->count()) return checkpoint;
  if (resume_option->count()) return resume;
  return "";
}

void CheckpointOptions::check(bool has_output) {
  if (every_option->count() && (!std::isfinite(every) || every < 0))
    throw InputError("--checkpoint-every", fmt::format("must be a number of seconds >= 0, got {}", every));
  if (every_option->count() && path().empty())
    throw InputError("--checkpoint-every", "needs --checkpoint PATH (or --resume PATH) to know where to save");
  if (extend_option->count() && !resume_option->count())
    throw InputError("--extend", "adds trajectories to a saved run: give its checkpoint with --resume PATH");
  if (extend_option->count() && extend < 2)
    throw InputError("--extend", fmt::format("expects the new total number of trajectories (>= 2), got {}", extend));
  if (part_option->count()) {
    const auto slash = part_spec.find('/');
    int i = 0, p = 0;
    const auto number = [&](std::size_t from, std::size_t to, int& v) {
      const auto [end, ec] = std::from_chars(part_spec.data() + from, part_spec.data() + to, v);
      return from < to && ec == std::errc() && end == part_spec.data() + to;
    };
    if (slash == std::string::npos || !number(0, slash, i) || !number(slash + 1, part_spec.size(), p) || p < 1 || i < 1 ||
        i > p)
      throw InputError("--part", fmt::format("expects I/P with 1 <= I <= P (e.g. 3/8), got '{}'", part_spec));
    if (p == 1) throw InputError("--part", "1/1 is the whole run: leave out --part (and use -o for its outputs)");
    part = i - 1;
    parts = p;
    if (path().empty())
      throw InputError("--part", "a part is saved to its checkpoint: give --checkpoint PATH (e.g. piece_" +
                                     std::to_string(i) + ")");
    if (has_output)
      throw InputError("-o", "a --part run writes only its checkpoint; `qfluct merge PIECES... -o OUT.csv` writes the "
                             "outputs of the whole run");
    if (extend_option->count()) throw InputError("--extend", "a part cannot be extended; merge the pieces with "
                                                             "--checkpoint and extend the merged run");
  }
}

nlohmann::json checkpoint_header(const RunConfig& config, int part, int parts) {
  const nlohmann::json parameters = config.to_json();
  return {{"qfluct_version", std::string(qfluct::version)},
          {"config_sha256", plan_config_sha256(parameters)},
          {"parameters", parameters},
          {"ntraj", config.solver.ntraj},
          {"group_size", config.solver.group_size},
          {"seed", config.solver.seed},
          {"kernel_variant", kernel_variant()},
          {"part", part + 1},
          {"parts", parts}};
}

namespace {

/// The checks every checkpoint of this run must pass; `key` names the option that gave it.
void check_identity(const nlohmann::json& h, const std::string& path, const std::string& key,
                    const nlohmann::json& expected, const std::string& expected_label = "this run") {
  const std::string version = h.value("qfluct_version", "?");
  if (version != expected["qfluct_version"].get<std::string>())
    throw InputError(key, fmt::format("'{}' was written by qfluct {} (qfluct_version in its header), this is qfluct {}: "
                                      "a checkpoint continues only in the version that wrote it (the numbers may differ "
                                      "between versions)",
                                      path, version, expected["qfluct_version"].get<std::string>()));
  const std::string variant = h.value("kernel_variant", "?");
  if (variant != expected["kernel_variant"].get<std::string>())
    throw InputError(key, fmt::format("'{}' was made on a machine running the {} kernels, this one runs {}: their "
                                      "rounding differs, so the run would not continue bit for bit; continue it on a "
                                      "machine of the first kind", path, variant, expected["kernel_variant"].get<std::string>()));
  for (const char* field : {"config_sha256", "parameters", "ntraj", "group_size", "part", "parts", "model", "groups",
                            "trajectories", "complete"})
    if (!h.contains(field)) throw InputError(key, fmt::format("'{}' is a damaged checkpoint (no \"{}\")", path, field));
  if (h["config_sha256"] != expected["config_sha256"]) {
    nlohmann::json before = h["parameters"], after = expected["parameters"];
    for (auto* p : {&before, &after})  // ntraj is not part of the identity (--extend)
      if (p->contains("solver") && (*p)["solver"].is_object()) (*p)["solver"].erase("ntraj");
    throw InputError(key, fmt::format("'{}' belongs to another configuration; it differs in {}", path,
                                      changed_keys(before, after, path, expected_label)));
  }
}

}  // namespace

Resumed load_resume(const std::string& path, const RunConfig& config, int part, int parts, bool extending) {
  CheckpointFile file = read_checkpoint(path, "--resume");
  const nlohmann::json expected = checkpoint_header(config, part, parts);
  check_identity(file.header, path, "--resume", expected);
  const auto& h = file.header;
  if (h["parts"] != expected["parts"] || h["part"] != expected["part"]) {
    const auto describe = [](const nlohmann::json& x) {
      return x["parts"].get<int>() > 1 ? fmt::format("part {}/{}", x["part"].get<int>(), x["parts"].get<int>())
                                       : std::string("a whole run");
    };
    throw InputError("--part", fmt::format("'{}' holds {}, this run is {}", path, describe(h), describe(expected)));
  }
  const long saved = h["ntraj"].get<long>();
  if (!extending && saved != config.solver.ntraj)
    throw InputError("solver.ntraj",
                     saved < config.solver.ntraj
                         ? fmt::format("'{}' was made for ntraj = {}, this run asks for {}: to add trajectories to it, "
                                       "use --extend {}", path, saved, config.solver.ntraj, config.solver.ntraj)
                         : fmt::format("'{}' was made for ntraj = {}, this run asks for {}: a run cannot be shortened; "
                                       "resume it with ntraj = {} (or --extend to more)", path, saved,
                                       config.solver.ntraj, saved));
  if (extending && config.solver.ntraj < h["trajectories"].get<long>())
    throw InputError("--extend", fmt::format("'{}' already holds {} trajectories, more than {}: a run can be extended, "
                                             "not shortened", path, h["trajectories"].get<long>(), config.solver.ntraj));
  Resumed r{h, {}};
  try {
    ByteReader in(file.state, path);
    r.state = EnsembleState::read(in);
    if (!in.done()) throw std::runtime_error("trailing bytes");
  } catch (const std::exception& e) {
    throw InputError("--resume", fmt::format("'{}' is a damaged checkpoint: {}", path, e.what()));
  }
  return r;
}

Checkpointer::Checkpointer(std::string path, double every, InterruptGuard& guard, nlohmann::json header)
    : path_(std::move(path)), every_(every), guard_(guard), header_(std::move(header)),
      last_(std::chrono::steady_clock::now()), snapshot_(last_) {
  const auto lock = guard_.defer();
  guard_.on_interrupt([this] {
    if (latest_.empty()) return std::string();
    if (!written_) write_latest();
    const int parts = header_["parts"].get<int>();
    const std::string part = parts > 1 ? fmt::format("--part {}/{} ", header_["part"].get<int>(), parts) : "";
    return fmt::format("; checkpoint {} holds {} trajectories (continue with {}--resume {})", path_, trajectories_, part,
                       path_);
  });
}

Checkpointer::~Checkpointer() {
  const auto lock = guard_.defer();
  guard_.on_interrupt(nullptr);
}

void Checkpointer::update(const EnsembleState& state, const nlohmann::json& model, bool last) {
  // The state is copied out (serialised) when a checkpoint is due, and otherwise as often as that
  // costs at most 2% of the run: the copy an interruption writes is then at most a chunk, or 50
  // times one serialisation, behind.
  const auto now = std::chrono::steady_clock::now();
  const bool due = std::chrono::duration<double>(now - last_).count() >= every_;
  if (!due && !last && std::chrono::duration<double>(now - snapshot_).count() < 50.0 * snapshot_cost_) return;
  ByteWriter bytes;
  state.write(bytes);
  nlohmann::json header = header_;
  const long ntraj = header["ntraj"].get<long>(), group_size = header["group_size"].get<long>();
  const EnsembleSlice slice = ensemble_slice(ntraj, group_size, header["part"].get<int>() - 1, header["parts"].get<int>());
  const long trajectories =
      state.groups() * group_size + (state.partial ? long(state.partial->moments.count()) : 0);
  const bool complete = state.tolerance_reached || (state.end_group() == slice.end && state.partial.has_value() == slice.partial);
  header["model"] = model;
  header["groups"] = state.groups();
  header["trajectories"] = trajectories;
  header["complete"] = complete;
  header["tolerance_reached"] = state.tolerance_reached;
  std::string file = checkpoint_bytes(std::move(header), bytes.data());
  snapshot_ = std::chrono::steady_clock::now();
  snapshot_cost_ = std::chrono::duration<double>(snapshot_ - now).count();
  const auto lock = guard_.defer();
  latest_ = std::move(file);
  written_ = false;
  trajectories_ = trajectories;
  complete_ = complete;
  if (due) write_latest();
}

void Checkpointer::flush() {
  const auto lock = guard_.defer();
  if (!written_ && !latest_.empty()) write_latest();
}

void Checkpointer::write_latest() {
  write_file_atomically(path_, latest_);
  written_ = true;
  last_ = std::chrono::steady_clock::now();
}

Resumed merge_pieces(const std::vector<std::string>& paths) {
  struct Piece {
    std::string path;
    CheckpointFile file;
  };
  std::vector<Piece> pieces;
  for (const auto& path : paths) pieces.push_back({path, read_checkpoint(path, path)});
  const nlohmann::json& first = pieces.front().file.header;
  nlohmann::json expected = first;
  expected["qfluct_version"] = std::string(qfluct::version);
  const int parts = first.value("parts", 0);
  std::map<int, std::size_t> by_part;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const auto& [path, file] = pieces[i];
    const auto& h = file.header;
    check_identity(h, path, path, expected, pieces.front().path);
    const auto split = [](const nlohmann::json& p) {
      return p.get<int>() > 1 ? fmt::format("in {} parts", p.get<int>()) : std::string("as a whole run");
    };
    const auto cutoffs = [](const nlohmann::json& model) {
      return model.contains("fock_cutoffs") ? fmt::format(", Fock cutoffs {}", model["fock_cutoffs"].dump()) : std::string();
    };
    if (h["ntraj"] != first["ntraj"] || h["parts"] != first["parts"] || h["model"] != first["model"])
      throw InputError(path, fmt::format("does not belong with {}: it was made for ntraj = {} {}{}, {} for ntraj = {} {}{}",
                                         pieces.front().path, h["ntraj"].dump(), split(h["parts"]), cutoffs(h["model"]),
                                         pieces.front().path, first["ntraj"].dump(), split(first["parts"]),
                                         cutoffs(first["model"])));
    const int part = h["part"].get<int>();
    if (auto [it, fresh] = by_part.emplace(part, i); !fresh)
      throw InputError(path, fmt::format("holds part {}/{}, as {} does: give each part once", part, parts,
                                         pieces[it->second].path));
    if (!h["complete"].get<bool>())
      throw InputError(path, fmt::format("part {}/{} is not finished ({} trajectories so far): continue it with qfluct "
                                         "run CONFIG --part {}/{} --resume {}",
                                         part, parts, h["trajectories"].dump(), part, parts, path));
  }
  std::string missing;
  for (int p = 1; p <= parts; ++p)
    if (!by_part.count(p)) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
  if (!missing.empty())
    throw InputError("merge", fmt::format("part(s) {} of {} missing: every part of the run is needed", missing, parts));
  std::vector<EnsembleState> states;
  for (const auto& [part, i] : by_part) {
    try {
      ByteReader in(pieces[i].file.state, pieces[i].path);
      states.push_back(EnsembleState::read(in));
    } catch (const std::exception& e) {
      throw InputError(pieces[i].path, fmt::format("a damaged checkpoint: {}", e.what()));
    }
  }
  Resumed whole{first, {}};
  try {
    whole.state = EnsembleState::concatenate(std::move(states));
  } catch (const std::exception& e) {
    throw InputError("merge", fmt::format("the pieces do not fit together: {}", e.what()));
  }
  whole.header["part"] = 1;
  whole.header["parts"] = 1;
  return whole;
}

}  // namespace qfluct::cli

// qfluct._qfluct: the native part of the Python module (python/qfluct/__init__.py is the rest).
// Everything here calls the library the command-line program calls (simulate, stationary,
// steady_configs, run_sidecar, write_csv, write_output_pair): the same configuration gives the
// same numbers and the same CSV bytes.
//
// A computation runs on a thread of its own, with SIGINT blocked there (and so in its OpenMP
// workers), while the calling thread waits with the GIL released. Every 0.1 s the calling thread
// takes the GIL, runs Python's signal handlers (PyErr_CheckSignals) and calls the progress
// callback: Python code never runs on the computation's threads. On an exception from a signal
// handler (KeyboardInterrupt) or from the callback, the run is told to stop: the progress
// observer throws at the next report, the exception leaves simulate (from OpenMP workers once
// their parallel region has ended), the thread ends, and the Python exception is raised.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/io/output.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/io/records.hpp"
#include "qfluct/io/scan.hpp"
#include "qfluct/io/sidecar.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/version.hpp"

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <omp.h>
#include <optional>
#include <pthread.h>
#include <thread>

namespace py = pybind11;

namespace {

using qfluct::InputError;

/// Thrown by the progress observer once the caller has asked the run to stop.
struct Stopped {};

/// What the computation's thread shares with the waiting Python thread.
struct Shared {
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
  std::string label;
  double done = 0, total = 0;
  bool changed = false;
  std::vector<std::string> notes;  ///< not yet handed to Python
  std::atomic<bool> stop{false};

  /// The observer of the library's progress reports (any thread; throws Stopped once asked to).
  void report(const std::string& l, double d, double t) {
    if (stop.load(std::memory_order_relaxed)) throw Stopped{};
    std::lock_guard lock(mutex);
    label = l, done = d, total = t, changed = true;
  }
  void note(const std::string& text) {
    std::lock_guard lock(mutex);
    notes.push_back(text);
  }
};

/// The thread count of a call: threads >= 1 (capped at 4 per processor, with a note, as the CLI
/// caps --threads), or the OpenMP default (OMP_NUM_THREADS, else every processor) for None.
int thread_count(const std::optional<long>& threads, Shared& shared) {
  const int processors = omp_get_num_procs();
  const long cap = 4L * processors;
  long k = omp_get_max_threads();
  std::string asked = fmt::format("OMP_NUM_THREADS={}", k);
  if (threads) {
    if (*threads < 1) throw InputError("threads", fmt::format("expects a whole number >= 1, got {}", *threads));
    k = *threads;
    asked = fmt::format("threads={}", k);
  }
  if (k > cap) {
    shared.note(fmt::format("{} is more than 4 threads per processor ({} here); using {}", asked, processors, cap));
    k = cap;
  }
  return int(k);
}

/// Hands the notes and the progress gathered so far to Python (GIL held).
void deliver(Shared& shared, const py::object& on_note, const py::object& on_progress) {
  std::vector<std::string> notes;
  std::optional<std::tuple<std::string, double, double>> progress;
  {
    std::lock_guard lock(shared.mutex);
    notes.swap(shared.notes);
    if (shared.changed) progress.emplace(shared.label, shared.done, shared.total);
    shared.changed = false;
  }
  for (const auto& n : notes)
    if (!on_note.is_none()) on_note(n);
  if (progress && !on_progress.is_none()) on_progress(std::get<0>(*progress), std::get<1>(*progress), std::get<2>(*progress));
}

/// Runs `work(shared)` on a thread of its own with `threads` OpenMP threads (see the top of this
/// file). Called with the GIL held; returns work's result or raises its exception, or the Python
/// exception of a signal handler or of a callback.
template <class T, class Work>
T run_interruptibly(Work work, int threads, Shared& shared, const py::object& on_note, const py::object& on_progress) {
  std::optional<T> value;
  std::exception_ptr failure;
  // The computation's thread (and the OpenMP workers it starts) inherit this mask: SIGINT goes
  // to a thread that runs Python's handler.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  };
  std::optional<Restore> restore(Restore{old});
  std::thread worker([&] {
    omp_set_num_threads(threads);  // this thread's own setting: no state shared with other calls
    try {
      value.emplace(work());
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard lock(shared.mutex);
    shared.finished = true;
    shared.finished_cv.notify_all();
  });
  restore.reset();
  std::unique_ptr<py::error_already_set> python_error;
  for (bool finished = false; !finished;) {
    {
      py::gil_scoped_release released;
      std::unique_lock lock(shared.mutex);
      shared.finished_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return shared.finished; });
      finished = shared.finished;
    }
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      deliver(shared, on_note, on_progress);
    } catch (py::error_already_set& e) {
      python_error = std::make_unique<py::error_already_set>(std::move(e));
      break;
    }
  }
  if (python_error) shared.stop = true;
  {
    py::gil_scoped_release released;
    worker.join();
  }
  if (python_error) throw std::move(*python_error);
  if (failure) std::rethrow_exception(failure);
  return std::move(*value);
}

/// Where a configuration comes from: a file, or text (a TOML string, or a dict written as TOML
/// by the Python side) shown as `name`.
qfluct::ConfigFile read_source(const std::string& kind, const std::string& source, const std::string& name) {
  if (kind == "path") return qfluct::read_config_file(source);
  return qfluct::parse_config_text(source, name);
}

std::string json_text(const nlohmann::json& j) { return j.dump(); }

/// A finished run: the series and its sidecar.
struct Run {
  qfluct::TimeSeries series;
  nlohmann::json sidecar;
  std::string config_file;
};

/// A finished steady computation.
struct Steady {
  std::vector<qfluct::Stationary> rows;
  std::optional<qfluct::Scan> scan;
  nlohmann::json sidecar;
  std::string config_file;
};

/// Writes CSV (and, with `sidecar`, the sidecar and records beside it) as `qfluct ... -o path`.
void write_outputs(const std::string& path, const std::string& config_file, nlohmann::json sidecar_json,
                   bool sidecar, const std::function<void(std::ostream&)>& csv,
                   const std::function<void(std::ostream&)>& records) {
  qfluct::OutputPaths paths;
  try {
    paths = qfluct::check_output_location(path, config_file, nullptr);
  } catch (const InputError& e) {
    throw InputError("path", std::string(e.what()).substr(e.key().size() + 2));
  }
  if (!sidecar) {
    std::ofstream out(path, std::ios::binary);
    if (out) csv(out);
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", path));
    return;
  }
  qfluct::recover_output_location(paths);
  sidecar_json["csv"] = path;
  if (records) sidecar_json["records_csv"] = paths.records;
  qfluct::write_output_pair(paths, csv, sidecar_json, nullptr, records);
}

py::tuple run(const std::string& kind, const std::string& source, const std::string& name,
              const std::vector<std::string>& overrides, std::optional<long> threads, py::object on_note,
              py::object on_progress, const std::vector<std::string>& command) {
  const auto start = std::chrono::steady_clock::now();
  const qfluct::ConfigFile file = read_source(kind, source, name);
  qfluct::RunConfig config = qfluct::load_config(file.table, overrides);
  auto shared = std::make_shared<Shared>();
  for (const auto& n : config.notes) shared->note(n);
  const int k = thread_count(threads, *shared);
  auto result = std::make_shared<Run>();
  result->config_file = kind == "path" ? source : name;
  result->series = run_interruptibly<qfluct::TimeSeries>(
      [&] {
        qfluct::SimulateOptions options;
        options.note = [&](const std::string& text) { shared->note(text); };
        options.observer = [&](const std::string& l, double d, double t) { shared->report(l, d, t); };
        return qfluct::simulate(config, options);
      },
      k, *shared, on_note, on_progress);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  qfluct::Invocation how{command, result->config_file, overrides, k, 1, ""};
  result->sidecar = qfluct::run_sidecar(how, config, result->series, wall, "");
  deliver(*shared, on_note, py::none());
  return py::make_tuple(py::cast(result), json_text(result->sidecar));
}

py::tuple steady(const std::string& kind, const std::string& source, const std::string& name,
                 const std::vector<std::string>& overrides, const std::string& scan_spec,
                 const std::optional<std::string>& scan_key, const std::vector<double>& scan_values,
                 std::optional<long> threads, py::object on_note, py::object on_progress,
                 const std::vector<std::string>& command) {
  const auto start = std::chrono::steady_clock::now();
  const qfluct::ConfigFile file = read_source(kind, source, name);
  auto result = std::make_shared<Steady>();
  result->config_file = kind == "path" ? source : name;
  if (!scan_spec.empty()) {
    // The same spelling as --scan; its errors name "scan" here.
    try {
      result->scan = qfluct::parse_scan(scan_spec);
    } catch (const InputError& e) {
      throw InputError("scan", std::string(e.what()).substr(e.key().size() + 2));
    }
  } else if (scan_key) {
    result->scan = qfluct::make_scan(*scan_key, scan_values, "scan");
  } else if (file.sidecar.contains("scan")) {
    result->scan = qfluct::recorded_scan(file.sidecar["scan"], result->config_file);  // repeat it
  }
  const std::vector<qfluct::RunConfig> configs = qfluct::steady_configs(file.table, overrides, result->scan);
  auto shared = std::make_shared<Shared>();
  for (const auto& n : configs.front().notes) shared->note(n);
  const int k = thread_count(threads, *shared);
  result->rows = run_interruptibly<std::vector<qfluct::Stationary>>(
      [&] {
        std::vector<qfluct::Stationary> rows;
        for (std::size_t i = 0; i < configs.size(); ++i) {
          shared->report("steady states", double(i), double(configs.size()));  // throws once stopped
          rows.push_back(qfluct::steady_point(configs, result->scan, i));
        }
        shared->report("steady states", double(configs.size()), double(configs.size()));
        return rows;
      },
      k, *shared, on_note, on_progress);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  qfluct::Invocation how{command, result->config_file, overrides, k, 1, ""};
  result->sidecar = qfluct::steady_sidecar(how, configs, result->rows, result->scan, wall);
  deliver(*shared, on_note, on_progress);
  return py::make_tuple(py::cast(result), json_text(result->sidecar));
}

/// The Python exception classes (qfluct/_errors.py).
py::object input_error_type, numerical_error_type;

}  // namespace

PYBIND11_MODULE(_qfluct, m) {
  m.doc() = "qfluct's native part; use the package qfluct";
  m.attr("version") = qfluct::version;
  py::module_ errors = py::module_::import("qfluct._errors");
  input_error_type = errors.attr("InputError");
  numerical_error_type = errors.attr("NumericalError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      py::object error = input_error_type(e.key(), std::string(e.what()).substr(e.key().size() + 2));
      PyErr_SetObject(input_error_type.ptr(), error.ptr());
    } catch (const qfluct::NumericalError& e) {
      PyErr_SetString(numerical_error_type.ptr(), e.what());
    }
  });

  py::class_<Run, std::shared_ptr<Run>>(m, "Run")
      .def_property_readonly("times", [](const Run& r) { return r.series.times; })
      .def_property_readonly("columns", [](const Run& r) { return r.series.columns; })
      .def_property_readonly("values", [](const Run& r) { return Eigen::MatrixXd(r.series.values); })
      .def_property_readonly("errors", [](const Run& r) { return Eigen::MatrixXd(r.series.errors); })
      .def_property_readonly("records",
                             [](const Run& r) {
                               const auto& rec = r.series.records;
                               py::list values;
                               for (const auto& v : rec.values) values.append(Eigen::MatrixXd(v));
                               return py::make_tuple(rec.homodyne, rec.jump_channels, rec.trajectory, values);
                             })
      .def("csv_text",
           [](const Run& r) {
             std::ostringstream out;
             qfluct::write_csv(out, r.series);
             return py::bytes(out.str());
           })
      .def("to_csv",
           [](const Run& r, const std::string& path, bool sidecar) {
             std::function<void(std::ostream&)> records;
             if (!r.series.records.empty())
               records = [&](std::ostream& out) { qfluct::write_records_csv(out, r.series.records); };
             write_outputs(path, r.config_file, r.sidecar, sidecar,
                           [&](std::ostream& out) { qfluct::write_csv(out, r.series); }, records);
           },
           py::arg("path"), py::arg("sidecar") = true);

  py::class_<Steady, std::shared_ptr<Steady>>(m, "Steady")
      .def_property_readonly("columns",
                             [](const Steady& s) { return qfluct::steady_columns(s.rows, s.scan); })
      .def_property_readonly("values",
                             [](const Steady& s) {
                               const auto columns = qfluct::steady_columns(s.rows, s.scan);
                               Eigen::MatrixXd v(Eigen::Index(s.rows.size()), Eigen::Index(columns.size()));
                               for (std::size_t i = 0; i < s.rows.size(); ++i) {
                                 Eigen::Index c = 0;
                                 if (s.scan) v(Eigen::Index(i), c++) = s.scan->values[i];
                                 for (double x : s.rows[i].values) v(Eigen::Index(i), c++) = x;
                               }
                               return v;
                             })
      .def_property_readonly("scan_key", [](const Steady& s) { return s.scan ? py::cast(s.scan->key) : py::none(); })
      .def_property_readonly("scan_column",
                             [](const Steady& s) { return s.scan ? py::cast(s.scan->column) : py::none(); })
      .def("csv_text",
           [](const Steady& s) {
             std::ostringstream out;
             qfluct::write_steady_csv(out, s.rows, s.scan);
             return py::bytes(out.str());
           })
      .def("to_csv",
           [](const Steady& s, const std::string& path, bool sidecar) {
             write_outputs(path, s.config_file, s.sidecar, sidecar,
                           [&](std::ostream& out) { qfluct::write_steady_csv(out, s.rows, s.scan); }, {});
           },
           py::arg("path"), py::arg("sidecar") = true);

  m.def("run", &run);
  m.def("steady", &steady);
  m.def("config_keys", &qfluct::config_keys);
  m.def("scan_column", &qfluct::scan_column);
}

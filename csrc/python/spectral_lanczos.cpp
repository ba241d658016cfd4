// Bindings of the spectral_lanczos family: certified batched Lanczos for small matrices (min(m, n)
// <= 256) as one CUDA thread block a matrix, and the same algorithm on the CPU with std::threads
// standing in for the block (spectral_lanczos_emulate: tests run the kernel's code without a GPU).
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "core/spectral_lanczos.hpp"
#include "dlpack.hpp"
#include "families.hpp"
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/spectral_lanczos_launch.hpp"
#endif

namespace infotheory {
namespace {

using pyutil::carray;
namespace sl = spectral_lanczos;

constexpr int kMaxTeam = 64;
constexpr size_t kGuard = 64;
constexpr double kSentinel = -1.2345678e300;

void check_options(int64_t m, int64_t n, double tol, int max_iter, int max_basis,
                   double gap_cap = 0.0) {
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  if (std::min(m, n) > sl::kMaxSide) {
    pyutil::value_error("W must have min(m, n) <= " + std::to_string(sl::kMaxSide) + ", got (" +
                        std::to_string(m) + ", " + std::to_string(n) + ")");
  }
  if (!(tol > 0.0)) pyutil::value_error("tol must be > 0, got " + std::to_string(tol));
  if (max_iter < 1) pyutil::value_error("max_iter must be >= 1, got " + std::to_string(max_iter));
  if (max_basis < 2) pyutil::value_error("max_basis must be >= 2, got " + std::to_string(max_basis));
  if (!(gap_cap >= 0.0)) {
    pyutil::value_error("gap_cap must be >= 0 (inf: uncapped), got " + std::to_string(gap_cap));
  }
}

// A reusable barrier (C++17 has none).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
  int count_ = 0;
  uint64_t gen_ = 0;
};

// CPU threads as a spectral_lanczos team, split into groups of `g` consecutive ranks that stand in
// for warps: group_sum synchronises only the group (as a warp shuffle does), so groups may run
// different numbers of group-level loop iterations, as warps do.
struct CpuTeam {
  int r, p, g;
  Barrier* bar;
  double* red;        // p doubles
  Barrier* gbar;      // this thread's group's barrier
  double* gred;       // this thread's group's g doubles
  int rank() const { return r; }
  int size() const { return p; }
  int lane() const { return r % g; }
  int group() const { return r / g; }
  int groups() const { return p / g; }
  int group_size() const { return g; }
  void sync() const {
    if (p > 1) bar->wait();
  }
  double group_sum(double x) const {
    if (g == 1) return x;
    gred[lane()] = x;
    gbar->wait();
    double s = 0.0;
    for (int q = 0; q < g; ++q) s += gred[q];
    gbar->wait();
    return s;
  }
  double sum(double x) const {
    if (p == 1) return x;
    red[r] = x;
    sync();
    double s = 0.0;
    for (int q = 0; q < p; ++q) s += red[q];
    sync();
    return s;
  }
};

template <class T>
void run_emulate(carray<T> A, carray<double> v, py::object u_obj, carray<double> sigma,
                 carray<double> lower, carray<double> upper, carray<int32_t> iters,
                 carray<int32_t> status, carray<double> mu, carray<int32_t> ok,
                 carray<double> fro2, double tol, int max_iter, int max_basis, double gap_cap,
                 std::uint64_t seed, bool certify, int team_size, int group_size) {
  if (A.ndim() != 3) pyutil::value_error("W must be 3-D (batch, m, n) at the kernel");
  const int64_t b = A.shape(0), m = A.shape(1), n = A.shape(2);
  check_options(m, n, tol, max_iter, max_basis, gap_cap);
  if (team_size < 1 || team_size > kMaxTeam) {
    pyutil::value_error("team_size must be in [1, " + std::to_string(kMaxTeam) + "], got " +
                        std::to_string(team_size));
  }
  if (group_size < 1 || team_size % group_size != 0) {
    pyutil::value_error("group_size must be >= 1 and divide team_size " +
                        std::to_string(team_size) + ", got " + std::to_string(group_size));
  }
  pyutil::expect_shape("v", pyutil::shape_of(v), {b, n});
  pyutil::expect_writable("v", v);
  auto out1 = [&](const char* name, const auto& arr) {
    pyutil::expect_shape(name, pyutil::shape_of(arr), {b});
    pyutil::expect_writable(name, arr);
  };
  out1("sigma", sigma);
  out1("lower", lower);
  out1("upper", upper);
  out1("iterations", iters);
  out1("status", status);
  out1("mu", mu);
  out1("ok", ok);
  out1("fro2", fro2);
  double* up = nullptr;
  carray<double> u;
  if (!u_obj.is_none()) {
    if (!py::isinstance<carray<double>>(u_obj)) {
      pyutil::type_error("u must be a C-contiguous float64 array or None");
    }
    u = u_obj.cast<carray<double>>();
    pyutil::expect_shape("u", pyutil::shape_of(u), {b, m});
    pyutil::expect_writable("u", u);
    up = u.mutable_data();
  }
  const sl::OutputPtrs o{sigma.mutable_data(), lower.mutable_data(), upper.mutable_data(),
               iters.mutable_data(), status.mutable_data(), mu.mutable_data(),
               ok.mutable_data(),    fro2.mutable_data()};
  const sl::Params P = sl::make_params(m, n, tol, max_iter, max_basis, gap_cap, certify);
  const T* a = A.data();
  double* vp = v.mutable_data();
  const auto work_n = static_cast<size_t>(sl::work_size(m, n, max_basis));
  const auto shared_n = static_cast<size_t>(sl::shared_size(m, n, max_basis));
  py::gil_scoped_release release;
  // work space and shared memory with a guard band after each: the kernel has the sizes without
  // it, so a layout that overruns them is an error here, not a silent corruption on the GPU
  std::vector<double> work(work_n + kGuard, kSentinel), shared(shared_n + kGuard, kSentinel);
  std::vector<double> red(static_cast<size_t>(team_size));
  auto check_guards = [&]() {
    for (size_t i = 0; i < kGuard; ++i) {
      if (work[work_n + i] != kSentinel || shared[shared_n + i] != kSentinel) {
        throw std::runtime_error("spectral_lanczos_emulate: work or shared memory overrun");
      }
    }
  };
  for (int64_t p = 0; p < b; ++p) {
    const T* Ap = a + p * m * n;
    double* vq = vp + p * n;
    double* uq = up ? up + p * m : nullptr;
    const uint64_t sp = seed + static_cast<uint64_t>(p);
    if (team_size == 1) {
      CpuTeam team{0, 1, 1, nullptr, red.data(), nullptr, nullptr};
      o.store(p, sl::solve(team, Ap, vq, uq, work.data(), shared.data(), P, sp));
      check_guards();
      continue;
    }
    Barrier bar(team_size);
    std::deque<Barrier> gbars;  // barriers do not move
    for (int q = 0; q < team_size / group_size; ++q) gbars.emplace_back(group_size);
    std::vector<double> gred(static_cast<size_t>(team_size));
    std::vector<sl::Outputs> res(static_cast<size_t>(team_size));
    auto body = [&](int r) {
      const int grp = r / group_size;
      CpuTeam team{r,           team_size,
                   group_size,  &bar,
                   red.data(),  &gbars[static_cast<size_t>(grp)],
                   gred.data() + grp * group_size};
      res[static_cast<size_t>(r)] = sl::solve(team, Ap, vq, uq, work.data(), shared.data(), P, sp);
    };
    std::vector<std::thread> threads;
    for (int r = 1; r < team_size; ++r) threads.emplace_back(body, r);
    body(0);
    for (auto& t : threads) t.join();
    for (const auto& r : res) {  // the team's results are uniform: check it
      if (r.sigma != res[0].sigma || r.upper != res[0].upper || r.status != res[0].status ||
          r.iterations != res[0].iterations || r.ok != res[0].ok) {
        throw std::runtime_error("spectral_lanczos_emulate: team members disagree");
      }
    }
    check_guards();
    o.store(p, res[0]);
  }
}

#ifdef INFOTHEORY_WITH_CUDA
// Capsules: W (b, m, n) float32/float64; v (b, n), u (b, m) or None, sigma, lower, upper, mu,
// fro2 (b,) float64; iterations, status, ok (b,) int32; work (b, work_size) float64.
void run_cuda(py::capsule W_c, py::capsule v_c, py::object u_obj, py::capsule sigma_c,
              py::capsule lower_c, py::capsule upper_c, py::capsule iters_c,
              py::capsule status_c, py::capsule mu_c, py::capsule ok_c, py::capsule fro2_c,
              py::capsule work_c, double tol, int max_iter, int max_basis, double gap_cap,
              std::uint64_t seed, bool certify, std::uintptr_t stream) {
  const auto W = dl::view_of(W_c, "W");
  if (W.shape.size() != 3) pyutil::value_error("W must be 3-D (batch, m, n) at the kernel");
  const int64_t b = W.shape[0], m = W.shape[1], n = W.shape[2];
  const uint8_t bits = W.dtype.bits;
  if (W.dtype.code != dl::kDLFloat || (bits != 32 && bits != 64)) {
    pyutil::type_error("W must be float32 or float64, got " + dl::dtype_name(W.dtype));
  }
  check_options(m, n, tol, max_iter, max_basis, gap_cap);
  const int dev = W.device.device_id;
  dl::expect_cuda(W, "W", dl::kDLFloat, bits, dev, false);
  auto f64 = [&](const py::capsule& c, const char* name, std::vector<int64_t> shape) {
    const auto x = dl::view_of(c, name);
    dl::expect_cuda(x, name, dl::kDLFloat, 64, dev, true);
    pyutil::expect_shape(name, x.shape, shape);
    return static_cast<double*>(x.data);
  };
  auto i32 = [&](const py::capsule& c, const char* name) {
    const auto x = dl::view_of(c, name);
    dl::expect_cuda(x, name, dl::kDLInt, 32, dev, true);
    pyutil::expect_shape(name, x.shape, {b});
    return static_cast<int32_t*>(x.data);
  };
  double* v = f64(v_c, "v", {b, n});
  double* u = nullptr;
  if (!u_obj.is_none()) {
    if (!py::isinstance<py::capsule>(u_obj)) pyutil::type_error("u must be a DLPack capsule or None");
    u = f64(u_obj.cast<py::capsule>(), "u", {b, m});
  }
  const cuda::LanczosOutputs out{f64(sigma_c, "sigma", {b}), f64(lower_c, "lower", {b}),
                                 f64(upper_c, "upper", {b}), i32(iters_c, "iterations"),
                                 i32(status_c, "status"),    f64(mu_c, "mu", {b}),
                                 i32(ok_c, "ok"),            f64(fro2_c, "fro2", {b})};
  double* work = f64(work_c, "work", {b, sl::work_size(m, n, max_basis)});
  py::gil_scoped_release release;
  if (bits == 64) {
    cuda::spectral_lanczos(static_cast<const double*>(W.data), v, u, out, work, b, m, n, tol,
                           max_iter, max_basis, gap_cap, seed, certify, stream);
  } else {
    cuda::spectral_lanczos(static_cast<const float*>(W.data), v, u, out, work, b, m, n, tol,
                           max_iter, max_basis, gap_cap, seed, certify, stream);
  }
}
#endif

template <class T>
void def_emulate(py::module_& m) {
  m.def("spectral_lanczos_emulate", &run_emulate<T>, py::arg("W").noconvert(),
        py::arg("v").noconvert(), py::arg("u").none(true), py::arg("sigma").noconvert(),
        py::arg("lower").noconvert(), py::arg("upper").noconvert(),
        py::arg("iterations").noconvert(), py::arg("status").noconvert(),
        py::arg("mu").noconvert(), py::arg("ok").noconvert(), py::arg("fro2").noconvert(),
        py::arg("tol"), py::arg("max_iter"), py::arg("max_basis"), py::arg("gap_cap"),
        py::arg("seed"), py::arg("certify"), py::arg("team_size"), py::arg("group_size") = 1);
}

void register_spectral_lanczos(py::module_& m) {
  def_emulate<double>(m);
  def_emulate<float>(m);
  m.def(
      "spectral_lanczos_work_size",
      [](int64_t m_, int64_t n_, int max_basis) {
        check_options(m_, n_, 1.0, 1, max_basis);
        return sl::work_size(m_, n_, max_basis);
      },
      py::arg("m"), py::arg("n"), py::arg("max_basis"));
  m.attr("SPECTRAL_LANCZOS_MAX_SIDE") = sl::kMaxSide;
#ifdef INFOTHEORY_WITH_CUDA
  m.def("spectral_lanczos_cuda", &run_cuda, py::arg("W"), py::arg("v"), py::arg("u").none(true),
        py::arg("sigma"), py::arg("lower"), py::arg("upper"), py::arg("iterations"),
        py::arg("status"), py::arg("mu"), py::arg("ok"), py::arg("fro2"), py::arg("work"),
        py::arg("tol"), py::arg("max_iter"), py::arg("max_basis"), py::arg("gap_cap"),
        py::arg("seed"), py::arg("certify"), py::arg("stream"));
#else
  m.def(
      "spectral_lanczos_cuda",
      [](const py::args&, const py::kwargs&) {
        throw std::runtime_error(
            "spectral_lanczos_cuda: this build of infotheory has no CUDA kernels (it was built "
            "without a CUDA compiler)");
      },
      "Raises RuntimeError: built without CUDA.");
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(spectral_lanczos, register_spectral_lanczos);

}  // namespace infotheory

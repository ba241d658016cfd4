// Bindings of the channel family: the batched binary attack (math.md §A4.4) on CPU (OpenMP, serial
// path for small batches) and CUDA, the batched Gaussian vector allocation (§A2.4) and the general
// finite-alphabet solver (§A1.2).
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "core/channel.hpp"
#include "dlpack.hpp"
#include "families.hpp"
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/channel_launch.hpp"
#endif

namespace infotheory {
namespace {

using pyutil::carray;

[[noreturn]] void raise_binary_status(int32_t st, int64_t p, double eps) {
  const std::string where = " (problem " + std::to_string(p) + " of the batch)";
  switch (st) {
    case kNonFiniteInput:
      pyutil::value_error("p must be finite, found NaN or inf" + where);
    case kNegativeInput:
      pyutil::value_error("p must be >= 0, found a negative probability" + where);
    case channel::kNotDistribution:
      pyutil::value_error("p must sum to 1 (within 1e-9) over its last four entries" + where);
    case kBadBudget:
      pyutil::value_error("eps must be finite and >= 0, got " + std::to_string(eps) + where);
    default:
      pyutil::value_error("binary attack failed with status " + std::to_string(st) + where);
  }
}

void binary_cpu(carray<double> p, carray<double> eps, carray<double> mi, carray<double> flip,
                carray<double> alpha, carray<double> lambda, carray<double> zero_budget) {
  if (p.ndim() != 2 || p.shape(1) != 4) {
    pyutil::value_error("p must have shape (n, 4) at the kernel, got " +
                        pyutil::shape_str(pyutil::shape_of(p)));
  }
  const int64_t n = p.shape(0);
  pyutil::expect_shape("eps", pyutil::shape_of(eps), {n});
  pyutil::expect_shape("mi", pyutil::shape_of(mi), {n});
  pyutil::expect_shape("flip", pyutil::shape_of(flip), {n, 4});
  pyutil::expect_shape("alpha", pyutil::shape_of(alpha), {n, 2});
  pyutil::expect_shape("multiplier", pyutil::shape_of(lambda), {n});
  pyutil::expect_shape("zero_information_budget", pyutil::shape_of(zero_budget), {n});
  pyutil::expect_writable("mi", mi);
  pyutil::expect_writable("flip", flip);
  pyutil::expect_writable("alpha", alpha);
  pyutil::expect_writable("multiplier", lambda);
  pyutil::expect_writable("zero_information_budget", zero_budget);
  const double* w = p.data();
  const double* e = eps.data();
  double* out_mi = mi.mutable_data();
  double* out_flip = flip.mutable_data();
  double* out_alpha = alpha.mutable_data();
  double* out_lam = lambda.mutable_data();
  double* out_d0 = zero_budget.mutable_data();
  std::vector<int32_t> status(static_cast<size_t>(n), kOk);
  {
    py::gil_scoped_release release;
    // ~0.3 us a problem: a work unit of 64 puts the serial threshold near 500 problems
    pyutil::parallel_for(n, 64, [&](int64_t i) {
      channel::BinaryResult r;
      const Status st = channel::binary_one(w + 4 * i, e[i], r);
      status[static_cast<size_t>(i)] = st;
      out_mi[i] = r.mi;
      for (int j = 0; j < 4; ++j) out_flip[4 * i + j] = r.flip[j];
      out_alpha[2 * i] = r.alpha[0];
      out_alpha[2 * i + 1] = r.alpha[1];
      out_lam[i] = r.lambda;
      out_d0[i] = r.zero_budget;
    });
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t st = status[static_cast<size_t>(i)];
    if (st != kOk) raise_binary_status(st, i, e[i]);
  }
}

// Batched Gaussian vector allocation; the caller (Python) has validated the values.
void gaussian_vector_cpu(carray<double> a2, carray<double> s2, carray<double> D,
                         carray<double> alloc, carray<double> mi, carray<double> lambda) {
  if (a2.ndim() != 2) pyutil::value_error("a2 must be 2-D (batch, k) at the kernel");
  const int64_t n = a2.shape(0), k = a2.shape(1);
  pyutil::expect_shape("s2", pyutil::shape_of(s2), {n, k});
  pyutil::expect_shape("D", pyutil::shape_of(D), {n});
  pyutil::expect_shape("allocation", pyutil::shape_of(alloc), {n, k});
  pyutil::expect_shape("mi", pyutil::shape_of(mi), {n});
  pyutil::expect_shape("multiplier", pyutil::shape_of(lambda), {n});
  pyutil::expect_writable("allocation", alloc);
  pyutil::expect_writable("mi", mi);
  pyutil::expect_writable("multiplier", lambda);
  const double* pa = a2.data();
  const double* ps = s2.data();
  const double* pd = D.data();
  double* out_a = alloc.mutable_data();
  double* out_mi = mi.mutable_data();
  double* out_l = lambda.mutable_data();
  py::gil_scoped_release release;
  // each coordinate costs ~20 Newton steps of a few trigonometric calls
  pyutil::parallel_for(n, 256 * k, [&](int64_t i) {
    thread_local std::vector<double> work;
    work.resize(static_cast<size_t>(3 * k));
    channel::gaussian_vector_one(pa + i * k, ps + i * k, k, pd[i], out_a + i * k, out_mi[i],
                                 out_l[i], work.data());
  });
}

// One general finite-alphabet problem; the caller (Python) has validated p, d and D.
py::tuple discrete_cpu(carray<double> p, carray<double> d, double D, double tol, int64_t max_iter,
                       carray<double> q) {
  if (p.ndim() != 2 || d.ndim() != 2) pyutil::value_error("p_ux and distortion must be 2-D");
  const int64_t U = p.shape(0), X = p.shape(1), Y = d.shape(1);
  pyutil::expect_shape("distortion", pyutil::shape_of(d), {X, Y});
  pyutil::expect_shape("q", pyutil::shape_of(q), {U, X, Y});
  // the solver reads p[0] and d[0] (an empty Y crashed it)
  if (U < 1 || X < 1 || Y < 1) {
    pyutil::value_error("p_ux and distortion must be non-empty, got p_ux " +
                        pyutil::shape_str(pyutil::shape_of(p)) + " and distortion " +
                        pyutil::shape_str(pyutil::shape_of(d)));
  }
  pyutil::expect_writable("q", q);
  channel::DiscreteResult r;
  Status st;
  {
    py::gil_scoped_release release;
    st = channel::discrete_solve(p.data(), U, X, Y, d.data(), D, tol, max_iter, q.mutable_data(),
                                 r);
  }
  return py::make_tuple(r.mi, r.cost, r.multiplier, r.gap, r.iterations, st == kOk);
}

// The same with the argument checks of the Python layer done here in one pass (the common call:
// float64 arrays, a float budget): None when any check fails or is too close to call (the sum
// within 1e-15 of its tolerance, D within 1e-15 relative of the least reachable cost), and the
// caller then runs its own checks, which name the problem.
py::object discrete_checked_cpu(carray<double> p, carray<double> d, double D, double tol,
                                int64_t max_iter, carray<double> q) {
  if (p.ndim() != 2 || d.ndim() != 2 || q.ndim() != 3) return py::none();
  const int64_t U = p.shape(0), X = p.shape(1), Y = d.shape(1);
  if (U * X == 0 || d.shape(0) != X || Y == 0 || q.shape(0) != U || q.shape(1) != X ||
      q.shape(2) != Y || !q.writeable()) {
    return py::none();
  }
  if (!(D >= 0.0) || !channel::finite(D)) return py::none();
  const double* pp = p.data();
  const double* dp = d.data();
  double total = 0.0;
  bool good = true;
  for (int64_t i = 0; i < U * X; ++i) {
    good = good && pp[i] >= 0.0 && channel::finite(pp[i]);
    total += pp[i];
  }
  if (!good || !(channel::absval(total - 1.0) <= 1e-9 - 1e-15)) return py::none();
  double floor = 0.0;
  for (int64_t x = 0; x < X; ++x) {
    double px = 0.0, dmin = inf();
    for (int64_t u = 0; u < U; ++u) px += pp[u * X + x];
    for (int64_t y = 0; y < Y; ++y) {
      const double v = dp[x * Y + y];
      good = good && v >= 0.0 && channel::finite(v);
      dmin = v < dmin ? v : dmin;
    }
    floor += px * dmin;
  }
  const double bound = floor * (1.0 - 1e-12) - 1e-15;  // the Python layer's test
  if (!good || !(D >= bound + 1e-15 * (floor + 1.0))) return py::none();
  return discrete_cpu(p, d, D, tol, max_iter, q);
}

#ifdef INFOTHEORY_WITH_CUDA
void binary_cuda(py::capsule p_c, py::capsule eps_c, py::capsule mi_c, py::capsule flip_c,
                 py::capsule alpha_c, py::capsule lam_c, py::capsule d0_c, py::capsule status_c,
                 std::uintptr_t stream) {
  const auto p = dl::view_of(p_c, "p");
  if (p.shape.size() != 2 || p.shape[1] != 4) {
    pyutil::value_error("p must have shape (n, 4) at the kernel, got " +
                        pyutil::shape_str(p.shape));
  }
  const int64_t n = p.shape[0];
  const int dev = p.device.device_id;
  dl::expect_cuda(p, "p", dl::kDLFloat, 64, dev, false);
  const auto eps = dl::view_of(eps_c, "eps");
  const auto mi = dl::view_of(mi_c, "mi");
  const auto flip = dl::view_of(flip_c, "flip");
  const auto alpha = dl::view_of(alpha_c, "alpha");
  const auto lam = dl::view_of(lam_c, "multiplier");
  const auto d0 = dl::view_of(d0_c, "zero_information_budget");
  const auto status = dl::view_of(status_c, "status");
  dl::expect_cuda(eps, "eps", dl::kDLFloat, 64, dev, false);
  dl::expect_cuda(mi, "mi", dl::kDLFloat, 64, dev, true);
  dl::expect_cuda(flip, "flip", dl::kDLFloat, 64, dev, true);
  dl::expect_cuda(alpha, "alpha", dl::kDLFloat, 64, dev, true);
  dl::expect_cuda(lam, "multiplier", dl::kDLFloat, 64, dev, true);
  dl::expect_cuda(d0, "zero_information_budget", dl::kDLFloat, 64, dev, true);
  dl::expect_cuda(status, "status", dl::kDLInt, 32, dev, true);
  pyutil::expect_shape("eps", eps.shape, {n});
  pyutil::expect_shape("mi", mi.shape, {n});
  pyutil::expect_shape("flip", flip.shape, {n, 4});
  pyutil::expect_shape("alpha", alpha.shape, {n, 2});
  pyutil::expect_shape("multiplier", lam.shape, {n});
  pyutil::expect_shape("zero_information_budget", d0.shape, {n});
  pyutil::expect_shape("status", status.shape, {n});
  py::gil_scoped_release release;
  cuda::binary_attack(static_cast<const double*>(p.data), static_cast<const double*>(eps.data),
                      static_cast<double*>(mi.data), static_cast<double*>(flip.data),
                      static_cast<double*>(alpha.data), static_cast<double*>(lam.data),
                      static_cast<double*>(d0.data), static_cast<int32_t*>(status.data), n, stream);
}
#endif

void register_channel(py::module_& m) {
  m.def("binary_attack", &binary_cpu, py::arg("p").noconvert(), py::arg("eps").noconvert(),
        py::arg("mi").noconvert(), py::arg("flip").noconvert(), py::arg("alpha").noconvert(),
        py::arg("multiplier").noconvert(), py::arg("zero_information_budget").noconvert());
  m.def("gaussian_vector_attack", &gaussian_vector_cpu, py::arg("a2").noconvert(),
        py::arg("s2").noconvert(), py::arg("D").noconvert(), py::arg("allocation").noconvert(),
        py::arg("mi").noconvert(), py::arg("multiplier").noconvert());
  m.def("discrete_attack", &discrete_cpu, py::arg("p_ux").noconvert(),
        py::arg("distortion").noconvert(), py::arg("D"), py::arg("tol"), py::arg("max_iter"),
        py::arg("q").noconvert());
  m.def("discrete_attack_checked", &discrete_checked_cpu, py::arg("p_ux").noconvert(),
        py::arg("distortion").noconvert(), py::arg("D"), py::arg("tol"), py::arg("max_iter"),
        py::arg("q").noconvert());
#ifdef INFOTHEORY_WITH_CUDA
  m.def("binary_attack_cuda", &binary_cuda, py::arg("p"), py::arg("eps"), py::arg("mi"),
        py::arg("flip"), py::arg("alpha"), py::arg("multiplier"),
        py::arg("zero_information_budget"), py::arg("status"), py::arg("stream"));
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(channel, register_channel);

}  // namespace infotheory

// Bindings of the spectral family: batched top singular value of dense matrices on CPU (OpenMP
// across the batch, or across row blocks of one large matrix) and CUDA (power iteration).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "core/spectral.hpp"
#include "core/spectral_block.hpp"
#include "dlpack.hpp"
#include "families.hpp"
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/spectral_launch.hpp"
#endif

namespace infotheory {
namespace {

using pyutil::carray;

// A single matrix this large (elements) uses all threads inside each operator application.
constexpr int64_t kSplitRows = 1 << 18;

// Checks shared by the real and complex entry points.
void check_options(int method, double tol, int max_iter, int max_basis) {
  if (method != spectral::kPower && method != spectral::kLanczos &&
      method != spectral::kLanczosGap && method != spectral::kLanczosEstimate) {
    pyutil::value_error(
        "method must be 0 (power), 1 (lanczos), 2 (lanczos, gap stop) or 3 (lanczos, capped gap "
        "stop), got " +
        std::to_string(method));
  }
  if (!(tol > 0.0)) pyutil::value_error("tol must be > 0, got " + std::to_string(tol));
  if (max_iter < 1) pyutil::value_error("max_iter must be >= 1, got " + std::to_string(max_iter));
  if (max_basis < 2) pyutil::value_error("max_basis must be >= 2, got " + std::to_string(max_basis));
}

// The per-matrix outputs (b,) of a top-singular-value run, checked once and bound as pointers;
// store(p, r) writes matrix p's result.
struct TopOutputs {
  double* sigma;
  double* lower;
  double* upper;
  int32_t* iterations;
  int32_t* status;
  void store(int64_t p, const spectral::Result& r) const {
    sigma[p] = r.sigma;
    lower[p] = r.lower;
    upper[p] = r.upper;
    iterations[p] = r.iterations;
    status[p] = r.status;
  }
};

TopOutputs check_outputs(int64_t b, carray<double>& sigma, carray<double>& lower,
                         carray<double>& upper, carray<int32_t>& iters, carray<int32_t>& status) {
  auto out1 = [&](const char* name, const auto& arr) {
    pyutil::expect_shape(name, pyutil::shape_of(arr), {b});
    pyutil::expect_writable(name, arr);
  };
  out1("sigma", sigma);
  out1("lower", lower);
  out1("upper", upper);
  out1("iterations", iters);
  out1("status", status);
  return {sigma.mutable_data(), lower.mutable_data(), upper.mutable_data(), iters.mutable_data(),
          status.mutable_data()};
}

// The optional left singular vectors u (b, m): checked and bound to `u`, or nullptr for None.
double* optional_u(const py::object& u_obj, int64_t b, int64_t m, carray<double>& u) {
  if (u_obj.is_none()) return nullptr;
  if (!py::isinstance<carray<double>>(u_obj)) {
    pyutil::type_error("u must be a C-contiguous float64 array or None");
  }
  u = u_obj.cast<carray<double>>();
  pyutil::expect_shape("u", pyutil::shape_of(u), {b, m});
  pyutil::expect_writable("u", u);
  return u.mutable_data();
}

// The (batch, m, n) shape of the real top-singular-value kernels' W, checked: 3-D, at least one row
// and one column.
struct BatchDims {
  int64_t b, m, n;
};

template <class T>
BatchDims batch_dims(const carray<T>& A) {
  if (A.ndim() != 3) {
    pyutil::value_error("W must be 3-D (batch, m, n) at the kernel, got " +
                        std::to_string(A.ndim()) + "-D");
  }
  const int64_t b = A.shape(0), m = A.shape(1), n = A.shape(2);
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  return {b, m, n};
}

#ifdef _OPENMP
// One operator application of a single large matrix A (m x n) over nt threads: thread t computes
// partial(rows, count, x, buf) for its block of rows (chunks a multiple of 4 rows) into part[t]
// (len entries, zeroed first), and y (len) is the sum of the nt partials in thread order.
template <class T, class Partial>
void split_rows(const T* A, int64_t m, int64_t n, int nt, int64_t len,
                std::vector<std::vector<double>>& part, const double* x, double* y,
                const Partial& partial) {
  const int64_t chunk = ((m + nt - 1) / nt + 3) / 4 * 4;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int64_t r0 = std::min<int64_t>(m, t * chunk), r1 = std::min<int64_t>(m, r0 + chunk);
    auto& buf = part[static_cast<size_t>(t)];
    buf.assign(static_cast<size_t>(len), 0.0);
    if (r1 > r0) partial(A + r0 * n, r1 - r0, x, buf.data());
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t j = 0; j < len; ++j) {
      double s = 0.0;
      for (int q = 0; q < nt; ++q) s += part[static_cast<size_t>(q)][static_cast<size_t>(j)];
      y[j] = s;
    }
  }
}
#endif

template <class T>
void run_cpu(carray<T> A, carray<double> v, py::object u_obj, carray<double> sigma,
             carray<double> lower, carray<double> upper, carray<int32_t> iters,
             carray<int32_t> status, int method, double tol, int max_iter, int max_basis,
             std::uint64_t seed) {
  const BatchDims dims = batch_dims(A);
  const int64_t b = dims.b, m = dims.m, n = dims.n;
  check_options(method, tol, max_iter, max_basis);
  pyutil::expect_shape("v", pyutil::shape_of(v), {b, n});
  const TopOutputs out = check_outputs(b, sigma, lower, upper, iters, status);
  pyutil::expect_writable("v", v);
  carray<double> u;
  double* up = optional_u(u_obj, b, m, u);
  const T* a = A.data();
  double* vp = v.mutable_data();
  const auto meth = static_cast<spectral::Method>(method);
  const int nt = pyutil::threads();
  py::gil_scoped_release release;
#ifdef _OPENMP
  if (nt > 1 && b < nt && m * n >= kSplitRows) {
    // Few large matrices: split each operator application over row blocks, one partial A^T A v
    // per thread, summed afterwards.
    for (int64_t p = 0; p < b; ++p) {
      const T* Ap = a + p * m * n;
      std::vector<std::vector<double>> part(static_cast<size_t>(nt));
      auto apply = [&](const double* x, double* y) {
        split_rows(Ap, m, n, nt, n, part, x, y,
                   [&](const T* rows, int64_t count, const double* xs, double* buf) {
                     spectral::gram_apply(rows, count, n, xs, buf, nullptr);
                   });
      };
      double* vq = vp + p * n;
      spectral::start_vector(vq, n, seed + static_cast<std::uint64_t>(p));
      spectral::Workspace ws;
      const auto r = meth == spectral::kPower
                         ? spectral::power(apply, n, vq, tol, max_iter, ws)
                         : spectral::lanczos(apply, n, vq, tol, max_iter, max_basis, ws,
                                             spectral::gap_cap_of(meth));
      out.store(p, r);
      if (up && r.status != kNonFiniteInput) spectral::left_vector(Ap, m, n, vq, up + p * m, ws);
    }
    return;
  }
#endif
  pyutil::parallel_for(b, m * n * 8, [&](int64_t p) {
    thread_local spectral::Workspace ws;
    const auto r = spectral::top_singular(a + p * m * n, m, n, vp + p * n, up ? up + p * m : nullptr,
                                          meth, tol, max_iter, max_basis,
                                          seed + static_cast<std::uint64_t>(p), ws);
    out.store(p, r);
  });
}


// Complex matrices as float64 (b, m, 2n) with interleaved (re, im): the FFT blocks of circular
// convolutions. v (b, 2n) as for run_cpu; no left vectors.
void run_cpu_complex(carray<double> A, carray<double> v, carray<double> sigma,
                     carray<double> lower, carray<double> upper, carray<int32_t> iters,
                     carray<int32_t> status, int method, double tol, int max_iter, int max_basis,
                     std::uint64_t seed) {
  if (A.ndim() != 3 || A.shape(2) % 2 != 0) {
    pyutil::value_error("W must be 3-D (batch, m, 2n) with interleaved complex entries");
  }
  const int64_t b = A.shape(0), m = A.shape(1), n = A.shape(2) / 2;
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  check_options(method, tol, max_iter, max_basis);
  pyutil::expect_shape("v", pyutil::shape_of(v), {b, 2 * n});
  pyutil::expect_writable("v", v);
  const TopOutputs out = check_outputs(b, sigma, lower, upper, iters, status);
  const double* a = A.data();
  double* vp = v.mutable_data();
  const auto meth = static_cast<spectral::Method>(method);
  py::gil_scoped_release release;
  pyutil::parallel_for(b, m * n * 16, [&](int64_t p) {
    thread_local spectral::Workspace ws;
    const auto r = spectral::top_singular_complex(a + p * m * 2 * n, m, n, vp + p * 2 * n, meth,
                                                  tol, max_iter, max_basis,
                                                  seed + static_cast<std::uint64_t>(p), ws);
    out.store(p, r);
  });
}

// Cholesky certificates for a batch: ok[p] = 1 where mu[p] I - Gram(W[p]) factors; fro2[p] =
// ||W[p]||_F^2 (computed in double from the same Gram matrix).
template <class T>
void run_certify(carray<T> A, carray<double> mu, carray<int32_t> ok, carray<double> fro2) {
  if (A.ndim() != 3) pyutil::value_error("W must be 3-D (batch, m, n) at the kernel");
  const int64_t b = A.shape(0), m = A.shape(1), n = A.shape(2);
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  pyutil::expect_shape("mu", pyutil::shape_of(mu), {b});
  pyutil::expect_shape("ok", pyutil::shape_of(ok), {b});
  pyutil::expect_shape("fro2", pyutil::shape_of(fro2), {b});
  pyutil::expect_writable("ok", ok);
  pyutil::expect_writable("fro2", fro2);
  const T* a = A.data();
  const double* mp = mu.data();
  int32_t* okp = ok.mutable_data();
  double* fp = fro2.mutable_data();
  const int64_t k = std::min(m, n);
  const int nt = pyutil::threads();
  py::gil_scoped_release release;
#pragma omp parallel num_threads(nt) if (nt > 1 && b > 1)
  {
    std::vector<double> G(static_cast<size_t>(k * k)), buf;
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < b; ++p) {
      const bool ok_p =
          spectral::certify_cholesky(a + p * m * n, m, n, mp[p], G.data(), fp + p, buf);
      okp[p] = ok_p ? 1 : 0;
    }
  }
}

// Certified small matrices (spectral::top_singular_gram): as run_cpu with Lanczos, plus mu, ok
// and fro2 per matrix for the caller's rounding margin.
template <class T>
void run_gram(carray<T> A, carray<double> v, py::object u_obj, carray<double> sigma,
              carray<double> lower, carray<double> upper, carray<int32_t> iters,
              carray<int32_t> status, carray<double> mu, carray<int32_t> ok, carray<double> fro2,
              double tol, int max_iter, int max_basis, std::uint64_t seed) {
  if (A.ndim() != 3) pyutil::value_error("W must be 3-D (batch, m, n) at the kernel");
  const int64_t b = A.shape(0), m = A.shape(1), n = A.shape(2);
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  check_options(1, tol, max_iter, max_basis);
  pyutil::expect_shape("v", pyutil::shape_of(v), {b, n});
  pyutil::expect_writable("v", v);
  const TopOutputs out = check_outputs(b, sigma, lower, upper, iters, status);
  pyutil::expect_shape("mu", pyutil::shape_of(mu), {b});
  pyutil::expect_shape("ok", pyutil::shape_of(ok), {b});
  pyutil::expect_shape("fro2", pyutil::shape_of(fro2), {b});
  pyutil::expect_writable("mu", mu);
  pyutil::expect_writable("ok", ok);
  pyutil::expect_writable("fro2", fro2);
  carray<double> u;
  double* up = optional_u(u_obj, b, m, u);
  const T* a = A.data();
  double* vp = v.mutable_data();
  double* mup = mu.mutable_data();
  int32_t* okp = ok.mutable_data();
  double* fp = fro2.mutable_data();
  const int64_t k = std::min(m, n);
  py::gil_scoped_release release;
  pyutil::parallel_for(b, m * n * k, [&](int64_t p) {
    thread_local spectral::Workspace ws;
    thread_local spectral::GramWork gw;
    const auto r = spectral::top_singular_gram(
        a + p * m * n, m, n, vp + p * n, up ? up + p * m : nullptr, tol, max_iter, max_basis,
        seed + static_cast<std::uint64_t>(p), ws, gw, mup + p, okp + p, fp + p);
    out.store(p, r);
  });
}

// One fused pass w = A^T (A v) (and Av = A v unless None) for tests and profiles: kernel 0 the
// scalar loop, 1 the dispatched one (AVX2/FMA where the CPU has it), 2 the float32-arithmetic pass
// of float32 Lanczos (AVX2 only; elsewhere kernel 1; no Av).
template <class T>
void run_gram_apply(carray<T> A, carray<double> v, carray<double> w, py::object av_obj,
                    int kernel) {
  if (A.ndim() != 2) pyutil::value_error("W must be 2-D (m, n)");
  const int64_t m = A.shape(0), n = A.shape(1);
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  if (kernel < 0 || kernel > 2) {
    pyutil::value_error("kernel must be 0, 1 or 2, got " + std::to_string(kernel));
  }
  pyutil::expect_shape("v", pyutil::shape_of(v), {n});
  pyutil::expect_shape("w", pyutil::shape_of(w), {n});
  pyutil::expect_writable("w", w);
  carray<double> av;
  double* avp = nullptr;
  if (!av_obj.is_none()) {
    if (!py::isinstance<carray<double>>(av_obj)) {
      pyutil::type_error("Av must be a C-contiguous float64 array or None");
    }
    av = av_obj.cast<carray<double>>();
    pyutil::expect_shape("Av", pyutil::shape_of(av), {m});
    pyutil::expect_writable("Av", av);
    avp = av.mutable_data();
  }
  if (kernel == 2 && avp) pyutil::value_error("kernel 2 has no Av output");
  const T* a = A.data();
  const double* vp = v.data();
  double* wp = w.mutable_data();
  py::gil_scoped_release release;
  if (kernel == 0) {
    spectral::gram_apply_generic(a, m, n, vp, wp, avp);
    return;
  }
#ifdef INFOTHEORY_SPECTRAL_X86
  if constexpr (std::is_same_v<T, float>) {
    if (kernel == 2 && spectral::cpu_has_avx2()) {
      std::vector<float> buf;  // aligned as top_singular's work space
      const spectral::F32Vectors f32 = spectral::f32_vectors(buf, n);
      spectral::gram_apply_f32fast(a, m, n, vp, wp, f32.v, f32.w);
      return;
    }
  }
#endif
  spectral::gram_apply(a, m, n, vp, wp, avp);
}

// Block Lanczos (spectral::top_singular_block), residual stop; arguments as run_cpu with the block
// size p in place of the method. Several threads on few large matrices split each block pass over
// row blocks, as run_cpu does for single vectors.
template <class T>
void run_cpu_block(carray<T> A, carray<double> v, py::object u_obj, carray<double> sigma,
                   carray<double> lower, carray<double> upper, carray<int32_t> iters,
                   carray<int32_t> status, int block, double tol, int max_iter, int max_basis,
                   std::uint64_t seed) {
  const BatchDims dims = batch_dims(A);
  const int64_t b = dims.b, m = dims.m, n = dims.n;
  check_options(spectral::kLanczos, tol, max_iter, max_basis);
  if (block < 1 || block > spectral::kMaxBlock) {
    pyutil::value_error("block must be in [1, " + std::to_string(spectral::kMaxBlock) + "], got " +
                        std::to_string(block));
  }
  pyutil::expect_shape("v", pyutil::shape_of(v), {b, n});
  pyutil::expect_writable("v", v);
  const TopOutputs out = check_outputs(b, sigma, lower, upper, iters, status);
  carray<double> u;
  double* up = optional_u(u_obj, b, m, u);
  const T* a = A.data();
  double* vp = v.mutable_data();
  const int nt = pyutil::threads();
  py::gil_scoped_release release;
#ifdef _OPENMP
  if (nt > 1 && b < nt && m * n >= kSplitRows && block > 1 && n > 4 * block) {
    for (int64_t p = 0; p < b; ++p) {
      const T* Ap = a + p * m * n;
      std::vector<std::vector<double>> part(static_cast<size_t>(nt));
      auto split = [&](int q, const double* x, double* y, bool single) {
        split_rows(Ap, m, n, nt, q * n, part, x, y,
                   [&](const T* rows, int64_t count, const double* xs, double* buf) {
                     if (single) {
                       spectral::gram_apply(rows, count, n, xs, buf, nullptr);
                     } else {
                       spectral::gram_block(rows, count, n, q, xs, buf);
                     }
                   });
      };
      auto apply = [&](const double* x, double* y) { split(block, x, y, false); };
      auto single = [&](const double* x, double* y) { split(1, x, y, true); };
      double* vq = vp + p * n;
      const auto sp = seed + static_cast<std::uint64_t>(p);
      spectral::start_vector(vq, n, sp);
      spectral::Workspace ws;
      spectral::BlockWork bw;
      const auto r = spectral::block_lanczos(apply, apply, single, false, n, block, vq, tol,
                                             max_iter, max_basis, sp, bw, ws);
      out.store(p, r);
      if (up && r.status != kNonFiniteInput) spectral::left_vector(Ap, m, n, vq, up + p * m, ws);
    }
    return;
  }
#endif
  pyutil::parallel_for(b, m * n * 8, [&](int64_t p) {
    thread_local spectral::Workspace ws;
    thread_local spectral::BlockWork bw;
    const auto r = spectral::top_singular_block(
        a + p * m * n, m, n, vp + p * n, up ? up + p * m : nullptr, block, tol, max_iter,
        max_basis, seed + static_cast<std::uint64_t>(p), ws, bw);
    out.store(p, r);
  });
}

// One block pass W = A^T (A V) for p = V.shape[0] vectors (tests and profiles): kernel 0 the
// portable loop, 1 the dispatched one (AVX2/FMA where the CPU has it), 2 the float32-arithmetic
// pass (float32 W on AVX2 only; elsewhere kernel 1).
template <class T>
void run_gram_block(carray<T> A, carray<double> V, carray<double> W, int kernel) {
  if (A.ndim() != 2) pyutil::value_error("W must be 2-D (m, n)");
  const int64_t m = A.shape(0), n = A.shape(1);
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  if (kernel < 0 || kernel > 2) {
    pyutil::value_error("kernel must be 0, 1 or 2, got " + std::to_string(kernel));
  }
  if (V.ndim() != 2 || V.shape(1) != n || V.shape(0) < 1 || V.shape(0) > spectral::kMaxBlock) {
    pyutil::value_error("V must have shape (p, " + std::to_string(n) + ") with 1 <= p <= " +
                        std::to_string(spectral::kMaxBlock) + ", got " +
                        pyutil::shape_str(pyutil::shape_of(V)));
  }
  const int p = static_cast<int>(V.shape(0));
  pyutil::expect_shape("out", pyutil::shape_of(W), {p, n});
  pyutil::expect_writable("out", W);
  const T* a = A.data();
  const double* vp = V.data();
  double* wp = W.mutable_data();
  py::gil_scoped_release release;
#ifdef INFOTHEORY_SPECTRAL_X86
  if constexpr (std::is_same_v<T, float>) {
    if (kernel == 2 && spectral::cpu_has_avx2()) {
      std::vector<float> buf;
      spectral::gram_block_fast(a, m, n, p, vp, wp,
                                spectral::aligned_floats(buf, spectral::block_fast_floats(p, n)));
      return;
    }
  }
#endif
  spectral::gram_block(a, m, n, p, vp, wp, kernel == 0 ? 0 : 1);
}

// The top eigenpair of a symmetric band matrix T (N x N, bandwidth p), as block Lanczos computes
// it from its projection (tests): returns theta; s holds the warm start on entry and the unit
// eigenvector on exit. lo: a lower bound on the top eigenvalue; hint: the expected distance above lo
// of the first factorisation tried (0: none).
double run_band_top_pair(carray<double> T, int p, double lo, double hint, carray<double> s) {
  if (T.ndim() != 2 || T.shape(0) != T.shape(1) || T.shape(0) < 1) {
    pyutil::value_error("T must be a non-empty square 2-D array, got " +
                        pyutil::shape_str(pyutil::shape_of(T)));
  }
  const int64_t N = T.shape(0);
  if (p < 1 || p >= N) {
    pyutil::value_error("p must be in [1, N), got " + std::to_string(p));
  }
  pyutil::expect_shape("s", pyutil::shape_of(s), {N});
  pyutil::expect_writable("s", s);
  if (!std::isfinite(lo) || !std::isfinite(hint) || hint < 0.0) {
    pyutil::value_error("lo must be finite and hint finite and >= 0");
  }
  for (int64_t i = 0; i < N * N; ++i) {
    if (!std::isfinite(T.data()[i])) pyutil::value_error("T must be finite");
  }
  std::vector<double> L(static_cast<size_t>(N * (p + 1)));
  return spectral::band_top_pair(T.data(), N, N, p, lo, hint, s.mutable_data(), L.data());
}

#ifdef INFOTHEORY_WITH_CUDA
// CUDA power iteration (see cuda/spectral_launch.hpp). Capsules: W (b, m, n) float32/float64; v
// (b, n), Av (b, m), sigma (b,), resid (b,) of W's dtype; scale (b,) float64. Runs `iters` steps on
// the caller's stream; the caller checks convergence.
void run_cuda(py::capsule W_c, py::capsule v_c, py::capsule av_c, py::capsule sigma_c,
              py::capsule resid_c, py::capsule scale_c, int iters, std::uintptr_t stream) {
  const auto W = dl::view_of(W_c, "W");
  if (W.shape.size() != 3) pyutil::value_error("W must be 3-D (batch, m, n) at the kernel");
  const int64_t b = W.shape[0], m = W.shape[1], n = W.shape[2];
  if (m == 0 || n == 0) pyutil::value_error("W must have at least one row and one column");
  const uint8_t bits = W.dtype.bits;
  if (W.dtype.code != dl::kDLFloat || (bits != 32 && bits != 64)) {
    pyutil::type_error("W must be float32 or float64, got " + dl::dtype_name(W.dtype));
  }
  if (iters < 1) pyutil::value_error("iters must be >= 1, got " + std::to_string(iters));
  const int dev = W.device.device_id;
  dl::expect_cuda(W, "W", dl::kDLFloat, bits, dev, false);
  const auto v = dl::view_of(v_c, "v");
  const auto av = dl::view_of(av_c, "Av");
  const auto sigma = dl::view_of(sigma_c, "sigma");
  const auto resid = dl::view_of(resid_c, "resid");
  const auto scale = dl::view_of(scale_c, "scale");
  dl::expect_cuda(v, "v", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(av, "Av", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(sigma, "sigma", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(resid, "resid", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(scale, "scale", dl::kDLFloat, 64, dev, true);
  pyutil::expect_shape("v", v.shape, {b, n});
  pyutil::expect_shape("Av", av.shape, {b, m});
  pyutil::expect_shape("sigma", sigma.shape, {b});
  pyutil::expect_shape("resid", resid.shape, {b});
  pyutil::expect_shape("scale", scale.shape, {b});
  py::gil_scoped_release release;
  if (bits == 64) {
    using T = double;
    cuda::spectral_power(static_cast<const T*>(W.data), static_cast<T*>(v.data),
                         static_cast<T*>(av.data), static_cast<T*>(sigma.data),
                         static_cast<T*>(resid.data), static_cast<double*>(scale.data), b, m, n,
                         iters, stream);
  } else {
    using T = float;
    cuda::spectral_power(static_cast<const T*>(W.data), static_cast<T*>(v.data),
                         static_cast<T*>(av.data), static_cast<T*>(sigma.data),
                         static_cast<T*>(resid.data), static_cast<double*>(scale.data), b, m, n,
                         iters, stream);
  }
}
#endif

template <class T>
void def_cpu(py::module_& m) {
  m.def("spectral_top", &run_cpu<T>, py::arg("W").noconvert(), py::arg("v").noconvert(),
        py::arg("u").none(true), py::arg("sigma").noconvert(), py::arg("lower").noconvert(),
        py::arg("upper").noconvert(), py::arg("iterations").noconvert(),
        py::arg("status").noconvert(), py::arg("method"), py::arg("tol"), py::arg("max_iter"),
        py::arg("max_basis"), py::arg("seed"));
  m.def("spectral_certify", &run_certify<T>, py::arg("W").noconvert(), py::arg("mu").noconvert(),
        py::arg("ok").noconvert(), py::arg("fro2").noconvert());
  m.def("spectral_top_gram", &run_gram<T>, py::arg("W").noconvert(), py::arg("v").noconvert(),
        py::arg("u").none(true), py::arg("sigma").noconvert(), py::arg("lower").noconvert(),
        py::arg("upper").noconvert(), py::arg("iterations").noconvert(),
        py::arg("status").noconvert(), py::arg("mu").noconvert(), py::arg("ok").noconvert(),
        py::arg("fro2").noconvert(), py::arg("tol"), py::arg("max_iter"), py::arg("max_basis"),
        py::arg("seed"));
  m.def("spectral_top_block", &run_cpu_block<T>, py::arg("W").noconvert(), py::arg("v").noconvert(),
        py::arg("u").none(true), py::arg("sigma").noconvert(), py::arg("lower").noconvert(),
        py::arg("upper").noconvert(), py::arg("iterations").noconvert(),
        py::arg("status").noconvert(), py::arg("block"), py::arg("tol"), py::arg("max_iter"),
        py::arg("max_basis"), py::arg("seed"));
  m.def("spectral_gram_block", &run_gram_block<T>, py::arg("W").noconvert(),
        py::arg("V").noconvert(), py::arg("out").noconvert(), py::arg("kernel"));
  m.def("spectral_gram_apply", &run_gram_apply<T>, py::arg("W").noconvert(),
        py::arg("v").noconvert(), py::arg("w").noconvert(), py::arg("Av").none(true),
        py::arg("kernel"));
}

void register_spectral(py::module_& m) {
  def_cpu<double>(m);
  def_cpu<float>(m);
  m.def("spectral_band_top_pair", &run_band_top_pair, py::arg("T").noconvert(), py::arg("p"),
        py::arg("lo"), py::arg("hint"), py::arg("s").noconvert());
  m.def("spectral_top_complex", &run_cpu_complex, py::arg("W").noconvert(), py::arg("v").noconvert(),
        py::arg("sigma").noconvert(), py::arg("lower").noconvert(), py::arg("upper").noconvert(),
        py::arg("iterations").noconvert(), py::arg("status").noconvert(), py::arg("method"),
        py::arg("tol"), py::arg("max_iter"), py::arg("max_basis"), py::arg("seed"));
#ifdef INFOTHEORY_WITH_CUDA
  m.def("spectral_power_cuda", &run_cuda, py::arg("W"), py::arg("v"), py::arg("Av"),
        py::arg("sigma"), py::arg("resid"), py::arg("scale"), py::arg("iters"), py::arg("stream"));
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(spectral, register_spectral);

}  // namespace infotheory

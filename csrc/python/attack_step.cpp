// Bindings of the attack_step family: the fused in-place projected-gradient step on CPU (OpenMP
// over samples) and CUDA (one block a sample, torch's current stream).
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "core/attack_step.hpp"
#include "dlpack.hpp"
#include "families.hpp"
#include <pybind11/stl.h>
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/attack_step_launch.hpp"
#endif

namespace infotheory {
namespace {

using pyutil::carray;
namespace as = attack_step;

as::Norm parse_norm(const std::string& norm) {
  if (norm == "inf") return as::Norm::kInf;
  if (norm == "2") return as::Norm::kL2;
  pyutil::value_error("norm must be 'inf' or '2', got '" + norm + "'");
}

void check_box(double lo, double hi) {
  if (!(lo < hi)) {
    pyutil::value_error("clip must satisfy lo < hi, got (" + std::to_string(lo) + ", " +
                        std::to_string(hi) + ")");
  }
}

// Budgets (eps, alpha) must be finite and non-negative: checked before anything is written.
template <class T>
void check_budget(const char* name, const T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!(v[i] >= T(0)) || !std::isfinite(v[i])) {
      pyutil::value_error(std::string(name) + " must be finite and non-negative, got " +
                          std::to_string(static_cast<double>(v[i])) + " at sample " +
                          std::to_string(i));
    }
  }
}

template <class T>
void run_cpu(carray<T> x, carray<T> g, carray<T> x0, carray<T> eps, carray<T> alpha, double lo,
             double hi, const std::string& norm_name, carray<T> l2, carray<T> linf) {
  const as::Norm norm = parse_norm(norm_name);
  check_box(lo, hi);
  if (x.ndim() < 1) pyutil::value_error("x must have a batch axis, got a 0-d array");
  const auto shape = pyutil::shape_of(x);
  pyutil::expect_shape("grad", pyutil::shape_of(g), shape);
  pyutil::expect_shape("x0", pyutil::shape_of(x0), shape);
  const int64_t n = shape[0];
  const int64_t d = n == 0 ? 0 : static_cast<int64_t>(x.size()) / n;
  pyutil::expect_shape("eps", pyutil::shape_of(eps), {n});
  pyutil::expect_shape("alpha", pyutil::shape_of(alpha), {n});
  pyutil::expect_shape("l2", pyutil::shape_of(l2), {n});
  pyutil::expect_shape("linf", pyutil::shape_of(linf), {n});
  pyutil::expect_writable("x", x);
  pyutil::expect_writable("l2", l2);
  pyutil::expect_writable("linf", linf);
  T* xp = x.mutable_data();
  const T* gp = g.data();
  const T* x0p = x0.data();
  const T* ep = eps.data();
  const T* ap = alpha.data();
  check_budget("eps", ep, n);
  check_budget("alpha", ap, n);
  T* l2p = l2.mutable_data();
  T* lip = linf.mutable_data();
  const T tlo = static_cast<T>(lo), thi = static_cast<T>(hi);
  py::gil_scoped_release release;
  // About 1 ns a coordinate: a fork/join (and, on a busy machine, waking a sleeping worker) costs
  // more than the step below a few million coordinates, so the work weight is scaled down.
  pyutil::parallel_for(n, d / 128, [&](int64_t p) {
    const auto r = as::step_one(norm, xp + p * d, gp + p * d, x0p + p * d, d, ep[p], ap[p], tlo, thi);
    l2p[p] = static_cast<T>(r.l2);
    lip[p] = static_cast<T>(r.linf);
  });
}

// Shape (n, ...) of `a` against `want`, and its per-sample size.
template <class A>
int64_t sample_size(const char* name, const A& a, const std::vector<int64_t>& want) {
  pyutil::expect_shape(name, pyutil::shape_of(a), want);
  const int64_t n = want.empty() ? 0 : want[0];
  return n == 0 ? 0 : static_cast<int64_t>(a.size()) / n;
}

template <class T>
void run_cw_cpu(carray<T> w, carray<T> m, carray<T> v, carray<T> xa, carray<T> x, carray<T> gm,
                double step_size, double bc2_sqrt, double b1, double b2, double adam_eps,
                double lo, double hi, bool box, carray<T> l2sq) {
  if (w.ndim() < 1) pyutil::value_error("w must have a batch axis, got a 0-d array");
  if (box) check_box(lo, hi);
  if (!(step_size >= 0.0) || !(bc2_sqrt > 0.0) || !(adam_eps >= 0.0)) {
    pyutil::value_error("Adam step_size and adam_eps must be >= 0 and bc2_sqrt > 0");
  }
  const auto shape = pyutil::shape_of(w);
  const int64_t d = sample_size("w", w, shape);
  for (const auto& [name, a] : {std::pair<const char*, const carray<T>*>{"m", &m}, {"v", &v},
                                {"xa", &xa}, {"x", &x}, {"grad", &gm}}) {
    sample_size(name, *a, shape);
  }
  const int64_t n = shape[0];
  pyutil::expect_shape("l2sq", pyutil::shape_of(l2sq), {n});
  pyutil::expect_writable("w", w);
  pyutil::expect_writable("m", m);
  pyutil::expect_writable("v", v);
  pyutil::expect_writable("xa", xa);
  pyutil::expect_writable("l2sq", l2sq);
  const as::CwAdam<T> p{static_cast<T>(step_size), static_cast<T>(bc2_sqrt), static_cast<T>(b1),
                        static_cast<T>(b2),        static_cast<T>(adam_eps), static_cast<T>(lo),
                        static_cast<T>(hi),        box};
  T* wp = w.mutable_data();
  T* mp = m.mutable_data();
  T* vp = v.mutable_data();
  T* xap = xa.mutable_data();
  const T* xp = x.data();
  const T* gp = gm.data();
  T* out = l2sq.mutable_data();
  py::gil_scoped_release release;
  pyutil::parallel_for(n, d, [&](int64_t i) {
    const int64_t o = i * d;
    out[i] = static_cast<T>(as::cw_one(wp + o, mp + o, vp + o, xap + o, xp + o, gp + o, d, p));
  });
}

template <class T>
void run_deepfool_cpu(const std::vector<carray<T>>& grads, carray<T> f, carray<int64_t> sel,
                      carray<int64_t> rows, carray<T> r_tot, carray<T> x, carray<T> x_adv,
                      double overshoot, double lo, double hi) {
  const int64_t k = static_cast<int64_t>(grads.size());
  if (k < 2) pyutil::value_error("grads must hold at least 2 gradients (true class, candidate)");
  if (x.ndim() < 1) pyutil::value_error("x must have a batch axis, got a 0-d array");
  check_box(lo, hi);
  const auto shape = pyutil::shape_of(x);
  const int64_t n = shape[0];
  const int64_t d = sample_size("x", x, shape);
  sample_size("r_tot", r_tot, shape);
  sample_size("x_adv", x_adv, shape);
  // every gradient: (a,) + x.shape[1:], a the rows of the forward pass they come from
  std::vector<int64_t> gshape = pyutil::shape_of(grads[0]);
  const int64_t a = gshape.empty() ? 0 : gshape[0];
  std::vector<int64_t> want = shape;
  want[0] = a;
  for (const auto& g : grads) pyutil::expect_shape("grads[j]", pyutil::shape_of(g), want);
  const int64_t mm = sel.ndim() == 1 ? sel.shape(0) : -1;
  pyutil::expect_shape("sel", pyutil::shape_of(sel), {mm});
  pyutil::expect_shape("rows", pyutil::shape_of(rows), {mm});
  pyutil::expect_shape("f", pyutil::shape_of(f), {mm, k - 1});
  pyutil::expect_writable("r_tot", r_tot);
  pyutil::expect_writable("x_adv", x_adv);
  const int64_t* sp = sel.data();
  const int64_t* rp = rows.data();
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < mm; ++i) {
    if (sp[i] < 0 || sp[i] >= a) pyutil::value_error("sel has an entry outside [0, a)");
    if (rp[i] < 0 || rp[i] >= n) pyutil::value_error("rows has an entry outside [0, n)");
    if (seen[static_cast<size_t>(rp[i])]++) pyutil::value_error("rows has a repeated entry");
  }
  std::vector<const T*> gp(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) gp[static_cast<size_t>(j)] = grads[static_cast<size_t>(j)].data();
  const T* fp = f.data();
  T* rt = r_tot.mutable_data();
  const T* xp = x.data();
  T* xo = x_adv.mutable_data();
  const T os = static_cast<T>(overshoot), tlo = static_cast<T>(lo), thi = static_cast<T>(hi);
  py::gil_scoped_release release;
  pyutil::parallel_for(mm, k * d, [&](int64_t i) {
    std::vector<const T*> g(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) g[static_cast<size_t>(j)] = gp[static_cast<size_t>(j)] + sp[i] * d;
    const int64_t o = rp[i] * d;
    as::deepfool_one(g.data(), k, fp + i * (k - 1), d, rt + o, xp + o, xo + o, os, tlo, thi);
  });
}

template <class T>
void def_minimal_cpu(py::module_& m) {
  m.def("cw_adam_step", &run_cw_cpu<T>, py::arg("w").noconvert(), py::arg("m").noconvert(),
        py::arg("v").noconvert(), py::arg("xa").noconvert(), py::arg("x").noconvert(),
        py::arg("grad").noconvert(), py::arg("step_size"), py::arg("bc2_sqrt"), py::arg("b1"),
        py::arg("b2"), py::arg("adam_eps"), py::arg("lo"), py::arg("hi"), py::arg("box"),
        py::arg("l2sq").noconvert());
  m.def("deepfool_step", &run_deepfool_cpu<T>, py::arg("grads").noconvert(),
        py::arg("f").noconvert(), py::arg("sel").noconvert(), py::arg("rows").noconvert(),
        py::arg("r_tot").noconvert(), py::arg("x").noconvert(), py::arg("x_adv").noconvert(),
        py::arg("overshoot"), py::arg("lo"), py::arg("hi"));
}

// The step of one attack run with everything but the gradient bound once: x, x0, eps, alpha, the
// box and the norm are checked here, and each call checks only the gradient (dtype, shape,
// C-contiguity) before the kernel runs. It keeps references to its arrays, and owns the l2/linf
// outputs (rewritten by every call).
class StepPlan {
 public:
  StepPlan(py::array x, py::array x0, py::array eps, py::array alpha, double lo, double hi,
           const std::string& norm)
      : norm_(parse_norm(norm)), lo_(lo), hi_(hi) {
    check_box(lo, hi);
    f64_ = x.dtype().equal(py::dtype::of<double>());
    if (!f64_ && !x.dtype().equal(py::dtype::of<float>())) {
      pyutil::type_error("x must be float32 or float64");
    }
    dt_ = x.dtype();
    if (x.ndim() < 1) pyutil::value_error("x must have a batch axis, got a 0-d array");
    const auto shape = pyutil::shape_of(x);
    n_ = shape[0];
    d_ = n_ == 0 ? 0 : static_cast<int64_t>(x.size()) / n_;
    check_array("x", x, shape, true);
    check_array("x0", x0, shape, false);
    check_array("eps", eps, {n_}, false);
    check_array("alpha", alpha, {n_}, false);
    if (f64_) {
      check_budget("eps", static_cast<const double*>(eps.data()), n_);
      check_budget("alpha", static_cast<const double*>(alpha.data()), n_);
    } else {
      check_budget("eps", static_cast<const float*>(eps.data()), n_);
      check_budget("alpha", static_cast<const float*>(alpha.data()), n_);
    }
    x_ = x;
    x0_ = x0;
    eps_ = eps;
    alpha_ = alpha;
    shape_ = shape;
    l2_ = py::array(x.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(n_)});
    linf_ = py::array(x.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(n_)});
  }

  void operator()(const py::array& g) {
    check_array("grad", g, shape_, false);
    if (f64_) {
      run<double>(g);
    } else {
      run<float>(g);
    }
  }

  py::array l2() const { return l2_; }
  py::array linf() const { return linf_; }

 private:
  void check_array(const char* name, const py::array& a, const std::vector<int64_t>& shape,
                   bool writable) const {
    if (!a.dtype().equal(dt_)) {
      pyutil::type_error(std::string(name) + " must have x's dtype");
    }
    if (!(a.flags() & py::array::c_style)) {
      pyutil::value_error(std::string(name) + " must be C-contiguous");
    }
    pyutil::expect_shape(name, pyutil::shape_of(a), shape);
    if (writable) pyutil::expect_writable(name, a);
  }

  template <class T>
  void run(const py::array& g) {
    T* xp = static_cast<T*>(x_.mutable_data());
    const T* gp = static_cast<const T*>(g.data());
    const T* x0p = static_cast<const T*>(x0_.data());
    const T* ep = static_cast<const T*>(eps_.data());
    const T* ap = static_cast<const T*>(alpha_.data());
    T* l2p = static_cast<T*>(l2_.mutable_data());
    T* lip = static_cast<T*>(linf_.mutable_data());
    const T tlo = static_cast<T>(lo_), thi = static_cast<T>(hi_);
    const int64_t d = d_;
    const as::Norm norm = norm_;
    py::gil_scoped_release release;
    pyutil::parallel_for(n_, d / 128, [&](int64_t p) {
      const auto r = as::step_one(norm, xp + p * d, gp + p * d, x0p + p * d, d, ep[p], ap[p], tlo,
                                  thi);
      l2p[p] = static_cast<T>(r.l2);
      lip[p] = static_cast<T>(r.linf);
    });
  }

  py::array x_, x0_, eps_, alpha_, l2_, linf_;
  py::dtype dt_;
  std::vector<int64_t> shape_;
  as::Norm norm_;
  double lo_, hi_;
  int64_t n_ = 0, d_ = 0;
  bool f64_ = false;
};

template <class T>
void def_cpu(py::module_& m) {
  m.def("attack_step", &run_cpu<T>, py::arg("x").noconvert(), py::arg("grad").noconvert(),
        py::arg("x0").noconvert(), py::arg("eps").noconvert(), py::arg("alpha").noconvert(),
        py::arg("lo"), py::arg("hi"), py::arg("norm"), py::arg("l2").noconvert(),
        py::arg("linf").noconvert());
}

#ifdef INFOTHEORY_WITH_CUDA
void run_cuda(py::capsule x_c, py::capsule g_c, py::capsule x0_c, py::capsule eps_c,
              py::capsule alpha_c, double lo, double hi, const std::string& norm_name,
              py::capsule l2_c, py::capsule linf_c, std::uintptr_t stream) {
  const as::Norm norm = parse_norm(norm_name);
  check_box(lo, hi);
  const auto x = dl::view_of(x_c, "x");
  if (x.shape.empty()) pyutil::value_error("x must have a batch axis, got a 0-d array");
  const uint8_t bits = x.dtype.bits;
  if (x.dtype.code != dl::kDLFloat || (bits != 32 && bits != 64)) {
    pyutil::type_error("x must be float32 or float64, got " + dl::dtype_name(x.dtype));
  }
  const int dev = x.device.device_id;
  dl::expect_cuda(x, "x", dl::kDLFloat, bits, dev, true);
  const auto g = dl::view_of(g_c, "grad");
  const auto x0 = dl::view_of(x0_c, "x0");
  const auto eps = dl::view_of(eps_c, "eps");
  const auto alpha = dl::view_of(alpha_c, "alpha");
  const auto l2 = dl::view_of(l2_c, "l2");
  const auto linf = dl::view_of(linf_c, "linf");
  dl::expect_cuda(g, "grad", dl::kDLFloat, bits, dev, false);
  dl::expect_cuda(x0, "x0", dl::kDLFloat, bits, dev, false);
  dl::expect_cuda(eps, "eps", dl::kDLFloat, bits, dev, false);
  dl::expect_cuda(alpha, "alpha", dl::kDLFloat, bits, dev, false);
  dl::expect_cuda(l2, "l2", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(linf, "linf", dl::kDLFloat, bits, dev, true);
  pyutil::expect_shape("grad", g.shape, x.shape);
  pyutil::expect_shape("x0", x0.shape, x.shape);
  const int64_t n = x.shape[0];
  int64_t size = 1;
  for (const int64_t s : x.shape) size *= s;
  const int64_t d = n == 0 ? 0 : size / n;
  pyutil::expect_shape("eps", eps.shape, {n});
  pyutil::expect_shape("alpha", alpha.shape, {n});
  pyutil::expect_shape("l2", l2.shape, {n});
  pyutil::expect_shape("linf", linf.shape, {n});
  py::gil_scoped_release release;
  const int32_t nm = static_cast<int32_t>(norm);
  if (bits == 64) {
    using T = double;
    cuda::attack_step<T>(static_cast<T*>(x.data), static_cast<const T*>(g.data),
                         static_cast<const T*>(x0.data), static_cast<const T*>(eps.data),
                         static_cast<const T*>(alpha.data), static_cast<T>(lo), static_cast<T>(hi),
                         nm, static_cast<T*>(l2.data), static_cast<T*>(linf.data), n, d, stream);
  } else {
    using T = float;
    cuda::attack_step<T>(static_cast<T*>(x.data), static_cast<const T*>(g.data),
                         static_cast<const T*>(x0.data), static_cast<const T*>(eps.data),
                         static_cast<const T*>(alpha.data), static_cast<T>(lo), static_cast<T>(hi),
                         nm, static_cast<T*>(l2.data), static_cast<T*>(linf.data), n, d, stream);
  }
}

// Float dtype bits of `v` (32 or 64), a TypeError otherwise.
uint8_t float_bits(const dl::View& v, const char* name) {
  const uint8_t bits = v.dtype.bits;
  if (v.dtype.code != dl::kDLFloat || (bits != 32 && bits != 64)) {
    pyutil::type_error(std::string(name) + " must be float32 or float64, got " +
                       dl::dtype_name(v.dtype));
  }
  return bits;
}

int64_t per_sample(const std::vector<int64_t>& shape) {
  int64_t size = 1;
  for (const int64_t s : shape) size *= s;
  return shape.empty() || shape[0] == 0 ? 0 : size / shape[0];
}

void run_cw_cuda(py::capsule w_c, py::capsule m_c, py::capsule v_c, py::capsule xa_c,
                 py::capsule x_c, py::capsule g_c, double step_size, double bc2_sqrt, double b1,
                 double b2, double adam_eps, double lo, double hi, bool box, py::capsule l2_c,
                 std::uintptr_t stream) {
  if (box) check_box(lo, hi);
  const auto w = dl::view_of(w_c, "w");
  if (w.shape.empty()) pyutil::value_error("w must have a batch axis, got a 0-d array");
  const uint8_t bits = float_bits(w, "w");
  const int dev = w.device.device_id;
  dl::expect_cuda(w, "w", dl::kDLFloat, bits, dev, true);
  const char* names[] = {"m", "v", "xa", "x", "grad"};
  py::capsule caps[] = {m_c, v_c, xa_c, x_c, g_c};
  void* ptr[5];
  for (int i = 0; i < 5; ++i) {
    const auto t = dl::view_of(caps[i], names[i]);
    dl::expect_cuda(t, names[i], dl::kDLFloat, bits, dev, i < 3);
    pyutil::expect_shape(names[i], t.shape, w.shape);
    ptr[i] = t.data;
  }
  const auto l2 = dl::view_of(l2_c, "l2sq");
  dl::expect_cuda(l2, "l2sq", dl::kDLFloat, bits, dev, true);
  const int64_t n = w.shape[0];
  pyutil::expect_shape("l2sq", l2.shape, {n});
  const int64_t d = per_sample(w.shape);
  py::gil_scoped_release release;
  const auto go = [&](auto zero) {
    using T = decltype(zero);
    cuda::cw_adam_step<T>(static_cast<T*>(w.data), static_cast<T*>(ptr[0]),
                          static_cast<T*>(ptr[1]), static_cast<T*>(ptr[2]),
                          static_cast<const T*>(ptr[3]), static_cast<const T*>(ptr[4]),
                          T(step_size), T(bc2_sqrt), T(b1), T(b2), T(adam_eps), T(lo), T(hi), box,
                          static_cast<T*>(l2.data), n, d, stream);
  };
  if (bits == 64) {
    go(0.0);
  } else {
    go(0.0f);
  }
}

void run_deepfool_cuda(py::capsule g_c, py::capsule f_c, py::capsule sel_c, py::capsule rows_c,
                       py::capsule rt_c, py::capsule x_c, py::capsule xadv_c, double overshoot,
                       double lo, double hi, std::uintptr_t stream) {
  check_box(lo, hi);
  const auto x = dl::view_of(x_c, "x");
  if (x.shape.empty()) pyutil::value_error("x must have a batch axis, got a 0-d array");
  const uint8_t bits = float_bits(x, "x");
  const int dev = x.device.device_id;
  dl::expect_cuda(x, "x", dl::kDLFloat, bits, dev, false);
  const auto rt = dl::view_of(rt_c, "r_tot");
  const auto xadv = dl::view_of(xadv_c, "x_adv");
  dl::expect_cuda(rt, "r_tot", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(xadv, "x_adv", dl::kDLFloat, bits, dev, true);
  pyutil::expect_shape("r_tot", rt.shape, x.shape);
  pyutil::expect_shape("x_adv", xadv.shape, x.shape);
  const auto g = dl::view_of(g_c, "grads");
  dl::expect_cuda(g, "grads", dl::kDLFloat, bits, dev, false);
  if (g.shape.size() != x.shape.size() + 1 || g.shape[0] < 2) {
    pyutil::value_error("grads must have shape (k, a) + x.shape[1:] with k >= 2, got " +
                        pyutil::shape_str(g.shape));
  }
  const int64_t k = g.shape[0], a = g.shape[1];
  std::vector<int64_t> want = x.shape;
  want[0] = a;
  pyutil::expect_shape("grads[j]", std::vector<int64_t>(g.shape.begin() + 1, g.shape.end()), want);
  const auto sel = dl::view_of(sel_c, "sel");
  const auto rows = dl::view_of(rows_c, "rows");
  const auto f = dl::view_of(f_c, "f");
  dl::expect_cuda(sel, "sel", dl::kDLInt, 64, dev, false);
  dl::expect_cuda(rows, "rows", dl::kDLInt, 64, dev, false);
  dl::expect_cuda(f, "f", dl::kDLFloat, bits, dev, false);
  const int64_t mm = sel.shape.size() == 1 ? sel.shape[0] : -1;
  pyutil::expect_shape("sel", sel.shape, {mm});
  pyutil::expect_shape("rows", rows.shape, {mm});
  pyutil::expect_shape("f", f.shape, {mm, k - 1});
  // sel and rows live on the device: their range and uniqueness are the caller's contract
  // (the attack builds them from nonzero() of its active set).
  const int64_t d = per_sample(x.shape);
  py::gil_scoped_release release;
  const auto go = [&](auto zero) {
    using T = decltype(zero);
    cuda::deepfool_step<T>(static_cast<const T*>(g.data), k, a, static_cast<const T*>(f.data),
                           static_cast<const int64_t*>(sel.data),
                           static_cast<const int64_t*>(rows.data), static_cast<T*>(rt.data),
                           static_cast<const T*>(x.data), static_cast<T*>(xadv.data),
                           T(overshoot), T(lo), T(hi), mm, d, stream);
  };
  if (bits == 64) {
    go(0.0);
  } else {
    go(0.0f);
  }
}
#endif

void register_attack_step(py::module_& m) {
  def_cpu<double>(m);
  def_cpu<float>(m);
  def_minimal_cpu<double>(m);
  def_minimal_cpu<float>(m);
  py::class_<StepPlan>(m, "AttackStepPlan",
                        "attack_step with x, x0, eps, alpha, the box and the norm bound once; "
                        "call it with the gradient (same dtype and shape as x, C-contiguous).")
      .def(py::init<py::array, py::array, py::array, py::array, double, double,
                    const std::string&>(),
           py::arg("x").noconvert(), py::arg("x0").noconvert(), py::arg("eps").noconvert(),
           py::arg("alpha").noconvert(), py::arg("lo"), py::arg("hi"), py::arg("norm"))
      .def("__call__", &StepPlan::operator(), py::arg("grad").noconvert())
      .def_property_readonly("l2", &StepPlan::l2)
      .def_property_readonly("linf", &StepPlan::linf);
  m.def("attack_step_loops", [] { return std::string(as::cpu_loops()); },
        "Which CPU loops the fused attack kernels run: 'avx2', 'sse2' or 'portable'.");
#ifdef INFOTHEORY_WITH_CUDA
  m.def("attack_step_cuda", &run_cuda, py::arg("x"), py::arg("grad"), py::arg("x0"),
        py::arg("eps"), py::arg("alpha"), py::arg("lo"), py::arg("hi"), py::arg("norm"),
        py::arg("l2"), py::arg("linf"), py::arg("stream"));
  m.def("cw_adam_step_cuda", &run_cw_cuda, py::arg("w"), py::arg("m"), py::arg("v"),
        py::arg("xa"), py::arg("x"), py::arg("grad"), py::arg("step_size"), py::arg("bc2_sqrt"),
        py::arg("b1"), py::arg("b2"), py::arg("adam_eps"), py::arg("lo"), py::arg("hi"),
        py::arg("box"), py::arg("l2sq"), py::arg("stream"));
  m.def("deepfool_step_cuda", &run_deepfool_cuda, py::arg("grads"), py::arg("f"), py::arg("sel"),
        py::arg("rows"), py::arg("r_tot"), py::arg("x"), py::arg("x_adv"), py::arg("overshoot"),
        py::arg("lo"), py::arg("hi"), py::arg("stream"));
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(attack_step, register_attack_step);

}  // namespace infotheory

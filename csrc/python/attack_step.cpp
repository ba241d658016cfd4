// Bindings of the attack_step family: the fused in-place projected-gradient step on CPU (OpenMP
// over samples) and CUDA (one block a sample, torch's current stream).
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "core/attack_step.hpp"
#include "dlpack.hpp"
#include "families.hpp"
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
#endif

void register_attack_step(py::module_& m) {
  def_cpu<double>(m);
  def_cpu<float>(m);
  m.def("attack_step_loops", [] { return std::string(as::cpu_loops()); },
        "Which CPU loops the fused attack kernels run: 'avx2', 'sse2' or 'portable'.");
#ifdef INFOTHEORY_WITH_CUDA
  m.def("attack_step_cuda", &run_cuda, py::arg("x"), py::arg("grad"), py::arg("x0"),
        py::arg("eps"), py::arg("alpha"), py::arg("lo"), py::arg("hi"), py::arg("norm"),
        py::arg("l2"), py::arg("linf"), py::arg("stream"));
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(attack_step, register_attack_step);

}  // namespace infotheory

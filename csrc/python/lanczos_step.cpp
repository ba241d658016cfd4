// Bindings of the lanczos_step family: one step of the matrix-free Lanczos loop of
// infotheory/lipschitz/_operator.py (three-term orthogonalisation and Simon's omega recurrence).
#include <cstdint>
#include <string>
#include <tuple>

#include "common.hpp"
#include "core/lanczos_step.hpp"
#include "families.hpp"

namespace infotheory {
namespace {

using pyutil::carray;

template <class T>
std::tuple<double, double, double, double> step(carray<T> q, py::object q_prev_obj, carray<T> w,
                                                double beta_prev, carray<double> alphas,
                                                carray<double> betas, int64_t k,
                                                carray<double> om_prev, carray<double> om_cur,
                                                carray<double> om_next, double eps1,
                                                double anorm) {
  const int64_t n = q.ndim() == 1 ? q.shape(0) : -1;
  if (n < 0) pyutil::value_error("q must be 1-D");
  pyutil::expect_shape("w", pyutil::shape_of(w), {n});
  pyutil::expect_writable("w", w);
  pyutil::expect_writable("om_next", om_next);
  if (k < 0 || alphas.size() < k || betas.size() < k || om_prev.size() < k ||
      om_cur.size() < k + 1 || om_next.size() < k + 2) {
    pyutil::value_error("lanczos_step: k = " + std::to_string(k) +
                        " exceeds the coefficient or estimate arrays");
  }
  const T* qp = nullptr;
  carray<T> q_prev;
  if (!q_prev_obj.is_none()) {
    q_prev = q_prev_obj.cast<carray<T>>();
    pyutil::expect_shape("q_prev", pyutil::shape_of(q_prev), {n});
    qp = q_prev.data();
  }
  double a = 0.0, b = 0.0;
  if (!lanczos_step::three_term<T>(q.data(), qp, w.mutable_data(), n, beta_prev, a, b)) {
    return {a, b, anorm, std::numeric_limits<double>::quiet_NaN()};
  }
  anorm = std::max(anorm, std::fabs(a) + b + (k ? beta_prev : 0.0));
  const double mx = lanczos_step::omega_next(om_prev.data(), om_cur.data(), alphas.data(),
                                             betas.data(), k, a, b, eps1 * anorm,
                                             om_next.mutable_data());
  return {a, b, anorm, mx};
}

void register_lanczos_step(py::module_& m) {
  const char* doc =
      "lanczos_step(q, q_prev, w, beta_prev, alphas, betas, k, om_prev, om_cur, om_next, eps1, "
      "anorm) -> (a, b, anorm, om_max): a = q.w; w <- w - a q - beta_prev q_prev (q_prev None at "
      "k = 0); b = ||w||; anorm = max(anorm, |a| + b + beta_prev); om_next[:k+2] from Simon's "
      "recurrence with noise eps1 * anorm; om_max = max |om_next[:k+1]|. a NaN or inf: returned "
      "with om_max NaN and nothing else done.";
  m.def("lanczos_step", &step<float>, doc, py::arg("q").noconvert(), py::arg("q_prev"),
        py::arg("w").noconvert(), py::arg("beta_prev"), py::arg("alphas"), py::arg("betas"),
        py::arg("k"), py::arg("om_prev"), py::arg("om_cur"), py::arg("om_next").noconvert(),
        py::arg("eps1"), py::arg("anorm"));
  m.def("lanczos_step", &step<double>, doc, py::arg("q").noconvert(), py::arg("q_prev"),
        py::arg("w").noconvert(), py::arg("beta_prev"), py::arg("alphas"), py::arg("betas"),
        py::arg("k"), py::arg("om_prev"), py::arg("om_cur"), py::arg("om_next").noconvert(),
        py::arg("eps1"), py::arg("anorm"));
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(lanczos_step, register_lanczos_step);

}  // namespace infotheory

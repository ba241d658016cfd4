// Bindings of the entropy family: counting distinct rows (hash/bincount, OpenMP passes for the
// column ranges and keys), fingerprints, and the plug-in and JVHW estimators from fingerprints.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "core/entropy.hpp"
#include "core/entropy_knn.hpp"
#include "families.hpp"

namespace infotheory {
namespace {

using entropy::Counts;
using pyutil::carray;

py::array_t<int64_t> owned_array(std::vector<int64_t>&& v) {
  auto* p = new std::vector<int64_t>(std::move(v));
  py::capsule owner(p, [](void* q) { delete static_cast<std::vector<int64_t>*>(q); });
  return py::array_t<int64_t>({static_cast<py::ssize_t>(p->size())}, {sizeof(int64_t)}, p->data(),
                              owner);
}

template <class T>
void count_typed(const T* x, int64_t n, int64_t d, Counts& out, bool want_first,
                 int64_t* inverse) {
  const int nt = pyutil::threads();
  const int64_t chunks = (nt > 1 && n * d >= pyutil::kSerialWork && n >= nt) ? nt : 1;
  std::vector<T> cmn(static_cast<size_t>(chunks * d)), cmx(static_cast<size_t>(chunks * d));
  pyutil::parallel_for(chunks, pyutil::kSerialWork, [&](int64_t c) {
    const int64_t r0 = n * c / chunks, r1 = n * (c + 1) / chunks;
    T* mn = cmn.data() + c * d;
    T* mx = cmx.data() + c * d;
    std::copy(x + r0 * d, x + (r0 + 1) * d, mn);
    std::copy(x + r0 * d, x + (r0 + 1) * d, mx);
    entropy::column_range(x, r0 + 1, r1, d, mn, mx);
  });
  std::vector<T> mn(cmn.begin(), cmn.begin() + d), mx(cmx.begin(), cmx.begin() + d);
  for (int64_t c = 1; c < chunks; ++c) {
    for (int64_t k = 0; k < d; ++k) {
      mn[k] = std::min(mn[k], cmn[c * d + k]);
      mx[k] = std::max(mx[k], cmx[c * d + k]);
    }
  }
  std::vector<uint64_t> stride(static_cast<size_t>(d));
  uint64_t total = 0;
  if (!entropy::radix_strides(mn.data(), mx.data(), d, stride.data(), total)) {
    entropy::count_rows_bytes(reinterpret_cast<const unsigned char*>(x), n,
                              d * static_cast<int64_t>(sizeof(T)), out, want_first, inverse);
    return;
  }
  if (chunks > 1 && d > 1) {  // the key pass is the n*d part: run it in parallel
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    pyutil::parallel_for(n, d, [&](int64_t i) {
      keys[static_cast<size_t>(i)] = entropy::row_key(x + i * d, d, mn.data(), stride.data());
    });
    entropy::count_keys(
        n, total, [&](int64_t i) { return keys[static_cast<size_t>(i)]; }, out, want_first,
        inverse);
  } else if (d == 1) {
    const uint64_t base = entropy::to_u64(mn[0]);
    entropy::count_keys(
        n, total, [&](int64_t i) { return entropy::to_u64(x[i]) - base; }, out, want_first,
        inverse);
  } else {
    entropy::count_keys(
        n, total, [&](int64_t i) { return entropy::row_key(x + i * d, d, mn.data(), stride.data()); },
        out, want_first, inverse);
  }
}

py::tuple count_symbols(const py::array& codes, bool want_first, bool want_inverse) {
  if (codes.ndim() != 2) {
    pyutil::value_error("codes must be 2-D (n, d) at the kernel, got " +
                        std::to_string(codes.ndim()) + "-D");
  }
  if (!(codes.flags() & py::array::c_style)) {
    pyutil::value_error("codes must be C-contiguous (no copy is made here)");
  }
  const py::dtype dt = codes.dtype();
  const char kind = dt.kind();
  if (kind != 'i' && kind != 'u' && kind != 'b') {
    pyutil::type_error("codes must have an integer or bool dtype, got " +
                       std::string(py::str(dt)));
  }
  const int64_t n = codes.shape(0), d = codes.shape(1);
  py::object inv_obj = py::none();
  int64_t* inverse = nullptr;
  if (want_inverse) {
    py::array_t<int64_t> inv(static_cast<py::ssize_t>(n));
    inverse = inv.mutable_data();
    inv_obj = inv;
  }
  Counts out;
  const void* data = codes.data();
  const auto itemsize = dt.itemsize();
  {
    py::gil_scoped_release release;
    if (n == 0) {
      // nothing to count
    } else if (d == 0) {  // every row is the empty row
      out.counts.assign(1, n);
      if (want_first) out.first.assign(1, 0);
      if (inverse) std::fill(inverse, inverse + n, 0);
    } else if (kind == 'i' && itemsize == 1) {
      count_typed(static_cast<const int8_t*>(data), n, d, out, want_first, inverse);
    } else if (kind == 'i' && itemsize == 2) {
      count_typed(static_cast<const int16_t*>(data), n, d, out, want_first, inverse);
    } else if (kind == 'i' && itemsize == 4) {
      count_typed(static_cast<const int32_t*>(data), n, d, out, want_first, inverse);
    } else if (kind == 'i' && itemsize == 8) {
      count_typed(static_cast<const int64_t*>(data), n, d, out, want_first, inverse);
    } else if (itemsize == 1) {  // uint8 and bool
      count_typed(static_cast<const uint8_t*>(data), n, d, out, want_first, inverse);
    } else if (itemsize == 2) {
      count_typed(static_cast<const uint16_t*>(data), n, d, out, want_first, inverse);
    } else if (itemsize == 4) {
      count_typed(static_cast<const uint32_t*>(data), n, d, out, want_first, inverse);
    } else if (itemsize == 8) {
      count_typed(static_cast<const uint64_t*>(data), n, d, out, want_first, inverse);
    } else {
      // Unusual integer widths: equal rows still have equal bytes.
      entropy::count_rows_bytes(static_cast<const unsigned char*>(data), n,
                                d * static_cast<int64_t>(itemsize), out, want_first, inverse);
    }
  }
  py::object first = py::none();
  if (want_first) first = owned_array(std::move(out.first));
  return py::make_tuple(owned_array(std::move(out.counts)), first, inv_obj);
}

// Fingerprint of a 1-D int64 array of counts; fp[j] = #{counts == j}, fp[0] = 0.
py::array_t<int64_t> fingerprint(const carray<int64_t>& counts) {
  if (counts.ndim() != 1) pyutil::value_error("counts must be 1-D");
  const int64_t k = counts.shape(0);
  const int64_t* c = counts.data();
  for (int64_t i = 0; i < k; ++i) {
    if (c[i] < 0) {
      pyutil::value_error("counts must be >= 0, got " + std::to_string(c[i]) + " at index " +
                          std::to_string(i));
    }
  }
  std::vector<int64_t> fp;
  {
    py::gil_scoped_release release;
    fp = entropy::fingerprint(c, k);
  }
  return owned_array(std::move(fp));
}

void check_fp(const carray<int64_t>& fp, int64_t n) {
  if (fp.ndim() != 1) pyutil::value_error("fingerprint must be 1-D");
  if (n < 1) pyutil::value_error("n must be >= 1, got " + std::to_string(n));
}

double plugin(const carray<int64_t>& fp, int64_t n) {
  check_fp(fp, n);
  py::gil_scoped_release release;
  return entropy::plugin_nats(fp.data(), fp.shape(0), n);
}

double jvhw(const carray<int64_t>& fp, int64_t n, const carray<double>& g_table) {
  check_fp(fp, n);
  constexpr int64_t K = entropy::kMaxDegree;
  pyutil::expect_shape("g_table", pyutil::shape_of(g_table), {K, K + 1});
  py::gil_scoped_release release;
  return entropy::jvhw_nats(fp.data(), fp.shape(0), n, g_table.data());
}

// KSG neighbour counts: xy is (n, dx + dy) float64; returns (n_x, n_y), each point included.
py::tuple ksg_counts(const carray<double>& xy, int64_t dx, int64_t k) {
  if (xy.ndim() != 2) pyutil::value_error("xy must be 2-D (n, dx + dy)");
  const int64_t n = xy.shape(0), d = xy.shape(1);
  if (dx < 1 || dx >= d) {
    pyutil::value_error("dx must be in 1..d-1 = " + std::to_string(d - 1) + ", got " +
                        std::to_string(dx));
  }
  if (k < 1 || k >= n) {
    pyutil::value_error("k must be in 1..n-1 = " + std::to_string(n - 1) + ", got " +
                        std::to_string(k));
  }
  py::array_t<int64_t> nx_arr(static_cast<py::ssize_t>(n)), ny_arr(static_cast<py::ssize_t>(n));
  int64_t* nx = nx_arr.mutable_data();
  int64_t* ny = ny_arr.mutable_data();
  const double* p = xy.data();
  {
    py::gil_scoped_release release;
    const knn::KDTree joint(p, n, d, 0, d);
    const int64_t dy = d - dx;
    // One-dimensional marginals: binary search in a sorted copy; otherwise a kd-tree.
    std::vector<double> sx, sy;
    std::unique_ptr<knn::KDTree> tx, ty;
    if (dx == 1) {
      sx.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) sx[static_cast<size_t>(i)] = p[i * d];
      std::sort(sx.begin(), sx.end());
    } else {
      tx = std::make_unique<knn::KDTree>(p, n, d, 0, dx);
    }
    if (dy == 1) {
      sy.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) sy[static_cast<size_t>(i)] = p[i * d + dx];
      std::sort(sy.begin(), sy.end());
    } else {
      ty = std::make_unique<knn::KDTree>(p, n, d, dx, dy);
    }
    pyutil::parallel_for(n, 64 * d, [&](int64_t i) {
      thread_local std::vector<double> heap;
      const double* q = p + i * d;
      const double eps = joint.kth_distance(q, k + 1, heap);
      const double r = std::nextafter(eps, 0.0);
      nx[i] = tx ? tx->count_within(q, r) : knn::count_sorted(sx, q[0], r);
      ny[i] = ty ? ty->count_within(q + dx, r) : knn::count_sorted(sy, q[dx], r);
    });
  }
  return py::make_tuple(nx_arr, ny_arr);
}

void register_entropy(py::module_& m) {
  m.def("ksg_counts", &ksg_counts, py::arg("xy").noconvert(), py::arg("dx"), py::arg("k"));
  m.def("count_symbols", &count_symbols, py::arg("codes"), py::arg("return_index"),
        py::arg("return_inverse"));
  m.def("fingerprint", &fingerprint, py::arg("counts").noconvert());
  m.def("entropy_plugin", &plugin, py::arg("fingerprint").noconvert(), py::arg("n"));
  m.def("entropy_jvhw", &jvhw, py::arg("fingerprint").noconvert(), py::arg("n"),
        py::arg("g_table").noconvert());
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(entropy, register_entropy);

}  // namespace infotheory

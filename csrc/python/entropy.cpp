// Bindings of the entropy family: counting distinct rows (hash/bincount, OpenMP passes for the
// column ranges and keys), fingerprints, and the plug-in and JVHW estimators from fingerprints.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
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
  if constexpr (std::is_signed_v<T> || sizeof(T) < 8) {
    // The common entropy() case (one column, counts only): a single pass, no min/max pass.
    const uint64_t cap = std::min(entropy::kDenseMax,
                                  std::max(entropy::kDenseMin, 2 * static_cast<uint64_t>(n)));
    if (d == 1 && !want_first && !inverse && entropy::count_column_growing(x, n, cap, out)) {
      return;
    }
  }
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

// Checks `codes` (2-D, C-contiguous, integer or bool) and calls fn(typed pointer, n, d) with the
// GIL released, or fn_bytes(bytes, n, row width) for unusual integer widths.
template <class Fn, class FnBytes>
void visit_codes(const py::array& codes, Fn&& fn, FnBytes&& fn_bytes) {
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
  const void* data = codes.data();
  const auto itemsize = dt.itemsize();
  py::gil_scoped_release release;
  if (kind == 'i' && itemsize == 1) {
    fn(static_cast<const int8_t*>(data), n, d);
  } else if (kind == 'i' && itemsize == 2) {
    fn(static_cast<const int16_t*>(data), n, d);
  } else if (kind == 'i' && itemsize == 4) {
    fn(static_cast<const int32_t*>(data), n, d);
  } else if (kind == 'i' && itemsize == 8) {
    fn(static_cast<const int64_t*>(data), n, d);
  } else if (itemsize == 1) {  // uint8 and bool
    fn(static_cast<const uint8_t*>(data), n, d);
  } else if (itemsize == 2) {
    fn(static_cast<const uint16_t*>(data), n, d);
  } else if (itemsize == 4) {
    fn(static_cast<const uint32_t*>(data), n, d);
  } else if (itemsize == 8) {
    fn(static_cast<const uint64_t*>(data), n, d);
  } else {
    // Unusual integer widths: equal rows still have equal bytes.
    fn_bytes(static_cast<const unsigned char*>(data), n, d * static_cast<int64_t>(itemsize));
  }
}

// Counts of the distinct rows of codes (n >= 0, d >= 0), optional first rows and labels.
void count_any(const py::array& codes, Counts& out, bool want_first, int64_t* inverse) {
  visit_codes(
      codes,
      [&](auto* x, int64_t n, int64_t d) {
        if (n == 0) return;
        if (d == 0) {  // every row is the empty row
          out.counts.assign(1, n);
          if (want_first) out.first.assign(1, 0);
          if (inverse) std::fill(inverse, inverse + n, 0);
          return;
        }
        count_typed(x, n, d, out, want_first, inverse);
      },
      [&](const unsigned char* bytes, int64_t n, int64_t w) {
        if (n > 0) entropy::count_rows_bytes(bytes, n, w, out, want_first, inverse);
      });
}

py::tuple count_symbols(const py::array& codes, bool want_first, bool want_inverse) {
  const int64_t n = codes.ndim() >= 1 ? codes.shape(0) : 0;
  py::object inv_obj = py::none();
  int64_t* inverse = nullptr;
  if (want_inverse && codes.ndim() == 2) {
    py::array_t<int64_t> inv(static_cast<py::ssize_t>(n));
    inverse = inv.mutable_data();
    inv_obj = inv;
  }
  Counts out;
  count_any(codes, out, want_first, inverse);
  py::object first = py::none();
  if (want_first) first = owned_array(std::move(out.first));
  return py::make_tuple(owned_array(std::move(out.counts)), first, inv_obj);
}

// Feeds the count of every distinct row of codes to sink.add. One column (the common entropy()
// case): a single pass, dense uint32 counters in a growing window, no counts array
// (entropy::fingerprint_column_dense) and no page faults (the zeroed table is kept per thread).
// Otherwise the rows are counted as in count_symbols and the counts handed over.
template <class Sink>
void fingerprint_codes(const py::array& codes, Sink& sink) {
  bool done = false;
  visit_codes(
      codes,
      [&](auto* x, int64_t n, int64_t d) {
        using T = std::remove_cv_t<std::remove_pointer_t<decltype(x)>>;
        if constexpr (std::is_signed_v<T> || sizeof(T) < 8) {
          if (n > 0 && d == 1) {
            const uint64_t cap = std::min(
                entropy::kDenseMax, std::max(entropy::kDenseMin, 2 * static_cast<uint64_t>(n)));
            constexpr size_t kKeepBytes = size_t{1} << 25;
            if (n <= static_cast<int64_t>(std::numeric_limits<uint32_t>::max())) {
              thread_local std::vector<uint32_t> table;
              try {
                done = entropy::fingerprint_column_dense<uint32_t>(x, n, cap, table, sink);
              } catch (...) {
                std::vector<uint32_t>().swap(table);  // contents unknown: start afresh next time
                throw;
              }
              if (table.capacity() * sizeof(uint32_t) > kKeepBytes) {
                std::vector<uint32_t>().swap(table);
              }
            } else {
              std::vector<uint64_t> table;
              done = entropy::fingerprint_column_dense<uint64_t>(x, n, cap, table, sink);
            }
          }
        }
      },
      [](const unsigned char*, int64_t, int64_t) {});
  if (!done) {
    Counts out;
    count_any(codes, out, false, nullptr);
    py::gil_scoped_release release;
    for (int64_t c : out.counts) sink.add(static_cast<uint64_t>(c));
  }
}

// Runs fill(builder) with the per-thread zeroed scratch of a SparseFingerprintBuilder; on an
// exception the scratch is dropped (its contents are unknown).
template <class Fill>
entropy::SparseFingerprint build_sparse(Fill&& fill) {
  thread_local std::vector<int64_t> dense;
  entropy::SparseFingerprint sf;
  try {
    entropy::SparseFingerprintBuilder b(dense);
    fill(b);
    sf = b.finish();
  } catch (...) {
    std::vector<int64_t>().swap(dense);
    throw;
  }
  return sf;
}

py::tuple pairs_tuple(entropy::SparseFingerprint&& sf) {
  const int64_t k = sf.k;
  return py::make_tuple(owned_array(std::move(sf.j)), owned_array(std::move(sf.f)), k);
}

// Sparse fingerprint (j, f, k) of the rows of codes: the distinct counts j ascending, f_j > 0 the
// number of rows seen j times, k the number of distinct rows.
py::tuple sparse_fingerprint(const py::array& codes) {
  return pairs_tuple(build_sparse([&](auto& b) { fingerprint_codes(codes, b); }));
}

// Sparse fingerprint (j, f, k) of a 1-D int64 array of counts (zeros, unseen symbols, ignored).
py::tuple sparse_fingerprint_of_counts(const carray<int64_t>& counts) {
  if (counts.ndim() != 1) pyutil::value_error("counts must be 1-D");
  const int64_t m = counts.shape(0);
  const int64_t* c = counts.data();
  for (int64_t i = 0; i < m; ++i) {
    if (c[i] < 0) {
      pyutil::value_error("counts must be >= 0, got " + std::to_string(c[i]) + " at index " +
                          std::to_string(i));
    }
  }
  entropy::SparseFingerprint sf;
  {
    py::gil_scoped_release release;
    sf = build_sparse([&](auto& b) {
      for (int64_t i = 0; i < m; ++i) {
        if (c[i] > 0) b.add(static_cast<uint64_t>(c[i]));
      }
    });
  }
  return pairs_tuple(std::move(sf));
}

void check_pairs(const carray<int64_t>& j, const carray<int64_t>& f, int64_t n) {
  if (j.ndim() != 1 || f.ndim() != 1 || j.shape(0) != f.shape(0)) {
    pyutil::value_error("j and f must be 1-D of equal length");
  }
  if (n < 1) pyutil::value_error("n must be >= 1, got " + std::to_string(n));
}

// Plug-in and JVHW entropies (nats) of n samples from their sparse fingerprint.
py::tuple entropy_pairs(const carray<int64_t>& j, const carray<int64_t>& f, int64_t n,
                        const carray<double>& g_table) {
  check_pairs(j, f, n);
  constexpr int64_t K = entropy::kMaxDegree;
  pyutil::expect_shape("g_table", pyutil::shape_of(g_table), {K, K + 1});
  const int64_t m = j.shape(0);
  double plugin = 0.0, jvhw = 0.0;
  {
    py::gil_scoped_release release;
    plugin = entropy::plugin_nats_pairs(j.data(), f.data(), m, n);
    jvhw = entropy::jvhw_nats_pairs(j.data(), f.data(), m, n, g_table.data());
  }
  return py::make_tuple(plugin, jvhw);
}

// Plug-in and JVHW entropies (nats) of the rows of codes and their number k of distinct rows, from
// a sparse fingerprint: nothing of size n or max count leaves the kernel.
py::tuple entropy_codes(const py::array& codes, const carray<double>& g_table) {
  constexpr int64_t K = entropy::kMaxDegree;
  pyutil::expect_shape("g_table", pyutil::shape_of(g_table), {K, K + 1});
  const int64_t n = codes.ndim() >= 1 ? codes.shape(0) : 0;
  entropy::SparseFingerprint sf = build_sparse([&](auto& b) { fingerprint_codes(codes, b); });
  if (n < 1) pyutil::value_error("codes must hold at least one row");
  const auto m = static_cast<int64_t>(sf.j.size());
  double plugin = 0.0, jvhw = 0.0;
  {
    py::gil_scoped_release release;
    plugin = entropy::plugin_nats_pairs(sf.j.data(), sf.f.data(), m, n);
    jvhw = entropy::jvhw_nats_pairs(sf.j.data(), sf.f.data(), m, n, g_table.data());
  }
  return py::make_tuple(plugin, jvhw, sf.k);
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
  m.def("sparse_fingerprint", &sparse_fingerprint, py::arg("codes"));
  m.def("sparse_fingerprint_of_counts", &sparse_fingerprint_of_counts,
        py::arg("counts").noconvert());
  m.def("entropy_pairs", &entropy_pairs, py::arg("j").noconvert(), py::arg("f").noconvert(),
        py::arg("n"), py::arg("g_table").noconvert());
  m.def("entropy_codes", &entropy_codes, py::arg("codes"), py::arg("g_table").noconvert());
  m.def("entropy_plugin", &plugin, py::arg("fingerprint").noconvert(), py::arg("n"));
  m.def("entropy_jvhw", &jvhw, py::arg("fingerprint").noconvert(), py::arg("n"),
        py::arg("g_table").noconvert());
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(entropy, register_entropy);

}  // namespace infotheory

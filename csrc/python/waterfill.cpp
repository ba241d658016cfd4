// Bindings of the waterfill family: batched reverse and forward water-filling on CPU (OpenMP) and CUDA.
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "core/waterfill.hpp"
#include "dlpack.hpp"
#include "families.hpp"
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/waterfill_launch.hpp"
#endif

namespace infotheory {
namespace {

using pyutil::carray;

struct Names {
  const char* rows;    // "sigma2" / "noise"
  const char* budget;  // "D" / "power"
};

[[noreturn]] void raise_status(Status st, int64_t p, const Names& nm, double budget) {
  const std::string where = " (problem " + std::to_string(p) + " of the batch)";
  switch (st) {
    case kNonFiniteInput:
      pyutil::value_error(std::string(nm.rows) + " must be finite, found NaN or inf" + where);
    case kNegativeInput:
      pyutil::value_error(std::string(nm.rows) + " must be >= 0, found a negative entry" + where);
    case kBadBudget:
      pyutil::value_error(std::string(nm.budget) + " must be finite and >= 0, got " +
                          std::to_string(budget) + where);
    default:
      pyutil::value_error(std::string("water-filling failed with status ") + std::to_string(st) +
                          where);
  }
}

template <class T, bool Reverse>
void run_cpu(carray<T> rows, carray<T> budget, carray<T> level, carray<T> alloc, carray<T> value,
             const Names& nm) {
  if (rows.ndim() != 2) {
    pyutil::value_error(std::string(nm.rows) + " must be 2-D (batch, k) at the kernel, got " +
                        std::to_string(rows.ndim()) + "-D");
  }
  const int64_t n = rows.shape(0), k = rows.shape(1);
  if (k == 0) pyutil::value_error(std::string(nm.rows) + " must have at least one coordinate");
  pyutil::expect_shape(nm.budget, pyutil::shape_of(budget), {n});
  pyutil::expect_shape("level", pyutil::shape_of(level), {n});
  pyutil::expect_shape("allocation", pyutil::shape_of(alloc), {n, k});
  pyutil::expect_shape(Reverse ? "mi" : "capacity", pyutil::shape_of(value), {n});
  pyutil::expect_writable("level", level);
  pyutil::expect_writable("allocation", alloc);
  pyutil::expect_writable(Reverse ? "mi" : "capacity", value);

  const T* s = rows.data();
  const T* b = budget.data();
  T* lv = level.mutable_data();
  T* al = alloc.mutable_data();
  T* out = value.mutable_data();
  std::vector<int32_t> status(static_cast<size_t>(n), kOk);
  {
    py::gil_scoped_release release;
    pyutil::parallel_for(n, k, [&](int64_t p) {
      thread_local std::vector<double> buf;
      double lev = 0.0, val = 0.0;
      const Status st =
          Reverse ? waterfill::reverse_one(s + p * k, k, static_cast<double>(b[p]), al + p * k, lev,
                                           val, buf)
                  : waterfill::forward_one(s + p * k, k, static_cast<double>(b[p]), al + p * k, lev,
                                           val, buf);
      status[static_cast<size_t>(p)] = st;
      lv[p] = static_cast<T>(lev);
      out[p] = static_cast<T>(val);
    });
  }
  for (int64_t p = 0; p < n; ++p) {
    if (status[static_cast<size_t>(p)] != kOk) {
      raise_status(static_cast<Status>(status[static_cast<size_t>(p)]), p, nm,
                   static_cast<double>(b[p]));
    }
  }
}

#ifdef INFOTHEORY_WITH_CUDA
// CUDA entry: DLPack capsules for every array, plus torch's current stream as an integer. The status
// array (int32, one a problem) is checked by the caller after the launch: the launcher never syncs.
template <bool Reverse>
void run_cuda(py::capsule rows_c, py::capsule budget_c, py::capsule level_c, py::capsule alloc_c,
              py::capsule value_c, py::capsule status_c, std::uintptr_t stream, const Names& nm) {
  const auto rows = dl::view_of(rows_c, nm.rows);
  if (rows.shape.size() != 2) {
    pyutil::value_error(std::string(nm.rows) + " must be 2-D (batch, k) at the kernel");
  }
  const int64_t n = rows.shape[0], k = rows.shape[1];
  if (k == 0) pyutil::value_error(std::string(nm.rows) + " must have at least one coordinate");
  const uint8_t bits = rows.dtype.bits;
  if (rows.dtype.code != dl::kDLFloat || (bits != 32 && bits != 64)) {
    pyutil::type_error(std::string(nm.rows) + " must be float32 or float64, got " +
                       dl::dtype_name(rows.dtype));
  }
  const int dev = rows.device.device_id;
  dl::expect_cuda(rows, nm.rows, dl::kDLFloat, bits, dev, false);
  const auto budget = dl::view_of(budget_c, nm.budget);
  const auto level = dl::view_of(level_c, "level");
  const auto alloc = dl::view_of(alloc_c, "allocation");
  const char* vname = Reverse ? "mi" : "capacity";
  const auto value = dl::view_of(value_c, vname);
  const auto status = dl::view_of(status_c, "status");
  dl::expect_cuda(budget, nm.budget, dl::kDLFloat, bits, dev, false);
  dl::expect_cuda(level, "level", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(alloc, "allocation", dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(value, vname, dl::kDLFloat, bits, dev, true);
  dl::expect_cuda(status, "status", dl::kDLInt, 32, dev, true);
  pyutil::expect_shape(nm.budget, budget.shape, {n});
  pyutil::expect_shape("level", level.shape, {n});
  pyutil::expect_shape("allocation", alloc.shape, {n, k});
  pyutil::expect_shape(vname, value.shape, {n});
  pyutil::expect_shape("status", status.shape, {n});
  py::gil_scoped_release release;
  auto* st = static_cast<int32_t*>(status.data);
  if (bits == 64) {
    using T = double;
    auto f = Reverse ? &cuda::reverse_waterfill<T> : &cuda::forward_waterfill<T>;
    f(static_cast<const T*>(rows.data), static_cast<const T*>(budget.data),
      static_cast<T*>(level.data), static_cast<T*>(alloc.data), static_cast<T*>(value.data), st, n,
      k, stream);
  } else {
    using T = float;
    auto f = Reverse ? &cuda::reverse_waterfill<T> : &cuda::forward_waterfill<T>;
    f(static_cast<const T*>(rows.data), static_cast<const T*>(budget.data),
      static_cast<T*>(level.data), static_cast<T*>(alloc.data), static_cast<T*>(value.data), st, n,
      k, stream);
  }
}
#endif

constexpr Names kReverse{"sigma2", "D"};
constexpr Names kForward{"noise", "power"};

template <class T>
void def_cpu(py::module_& m) {
  m.def(
      "reverse_waterfill",
      [](carray<T> s, carray<T> d, carray<T> lv, carray<T> al, carray<T> mi) {
        run_cpu<T, true>(s, d, lv, al, mi, kReverse);
      },
      py::arg("sigma2").noconvert(), py::arg("D").noconvert(), py::arg("level").noconvert(),
      py::arg("allocation").noconvert(), py::arg("mi").noconvert());
  m.def(
      "forward_waterfill",
      [](carray<T> s, carray<T> p, carray<T> lv, carray<T> al, carray<T> c) {
        run_cpu<T, false>(s, p, lv, al, c, kForward);
      },
      py::arg("noise").noconvert(), py::arg("power").noconvert(), py::arg("level").noconvert(),
      py::arg("allocation").noconvert(), py::arg("capacity").noconvert());
}

}  // namespace

namespace {
void register_waterfill(py::module_& m) {
  def_cpu<double>(m);
  def_cpu<float>(m);
#ifdef INFOTHEORY_WITH_CUDA
  m.def(
      "reverse_waterfill_cuda",
      [](py::capsule s, py::capsule d, py::capsule lv, py::capsule al, py::capsule mi,
         py::capsule st, std::uintptr_t stream) {
        run_cuda<true>(s, d, lv, al, mi, st, stream, kReverse);
      },
      py::arg("sigma2"), py::arg("D"), py::arg("level"), py::arg("allocation"), py::arg("mi"),
      py::arg("status"), py::arg("stream"));
  m.def(
      "forward_waterfill_cuda",
      [](py::capsule s, py::capsule p, py::capsule lv, py::capsule al, py::capsule c,
         py::capsule st, std::uintptr_t stream) {
        run_cuda<false>(s, p, lv, al, c, st, stream, kForward);
      },
      py::arg("noise"), py::arg("power"), py::arg("level"), py::arg("allocation"),
      py::arg("capacity"), py::arg("status"), py::arg("stream"));
#endif
}

}  // namespace

INFOTHEORY_REGISTER_FAMILY(waterfill, register_waterfill);

}  // namespace infotheory

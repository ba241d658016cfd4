// A small DLPack consumer written from the DLPack ABI (v0.8 unversioned and v1.x versioned capsules).
// We borrow the tensor: the capsule is not renamed, so its producer's destructor frees it as usual,
// and the caller keeps the capsule alive for the duration of the call.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"

namespace infotheory::dl {

struct Device {
  int32_t device_type;  // 1 CPU, 2 CUDA, 3 CUDA host, 13 CUDA managed
  int32_t device_id;
};
struct DataType {
  uint8_t code;  // 0 int, 1 uint, 2 float, 6 bool
  uint8_t bits;
  uint16_t lanes;
};
struct Tensor {
  void* data;
  Device device;
  int32_t ndim;
  DataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null means compact row-major
  uint64_t byte_offset;
};
struct ManagedTensor {
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor*);
};
struct PackVersion {
  uint32_t major;
  uint32_t minor;
};
struct ManagedTensorVersioned {
  PackVersion version;
  void* manager_ctx;
  void (*deleter)(ManagedTensorVersioned*);
  uint64_t flags;
  Tensor dl_tensor;
};
constexpr uint64_t kFlagReadOnly = 1ULL;
constexpr int32_t kDLCUDA = 2;
constexpr uint8_t kDLInt = 0;
constexpr uint8_t kDLFloat = 2;

struct View {
  void* data = nullptr;
  std::vector<int64_t> shape;
  DataType dtype{};
  Device device{};
  bool read_only = false;
};

inline View view_of(const py::capsule& cap, const char* name) {
  const char* cname = PyCapsule_GetName(cap.ptr());
  if (cname == nullptr) {
    PyErr_Clear();
    pyutil::type_error(std::string(name) + " must be a DLPack capsule");
  }
  const std::string kind(cname);
  const Tensor* t = nullptr;
  View v;
  if (kind == "dltensor") {
    t = &static_cast<ManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), cname))->dl_tensor;
  } else if (kind == "dltensor_versioned") {
    auto* m = static_cast<ManagedTensorVersioned*>(PyCapsule_GetPointer(cap.ptr(), cname));
    if (m->version.major != 1) {
      pyutil::type_error(std::string(name) + ": DLPack major version " +
                         std::to_string(m->version.major) + " is not supported (need 1)");
    }
    v.read_only = (m->flags & kFlagReadOnly) != 0;
    t = &m->dl_tensor;
  } else {
    pyutil::type_error(std::string(name) + " must be an unconsumed DLPack capsule, got one named '" +
                       kind + "'");
  }
  v.data = static_cast<char*>(t->data) + t->byte_offset;
  v.shape.assign(t->shape, t->shape + t->ndim);
  v.dtype = t->dtype;
  v.device = t->device;
  if (t->dtype.lanes != 1) pyutil::type_error(std::string(name) + " must not be a vector dtype");
  if (t->strides != nullptr) {  // must be compact row-major (size-1 dimensions may have any stride)
    int64_t expect = 1;
    for (int32_t d = t->ndim - 1; d >= 0; --d) {
      if (t->shape[d] != 1 && t->strides[d] != expect) {
        pyutil::value_error(std::string(name) +
                            " must be C-contiguous (call .contiguous() first); got strides that "
                            "are not row-major");
      }
      expect *= t->shape[d];
    }
  }
  return v;
}

inline std::string dtype_name(const DataType& d) {
  const char* base = d.code == kDLFloat ? "float" : d.code == kDLInt ? "int" : d.code == 1 ? "uint"
                                                                             : "other";
  return std::string(base) + std::to_string(d.bits);
}

// Check a CUDA view: device, dtype and (optionally) writability.
inline void expect_cuda(const View& v, const char* name, uint8_t code, uint8_t bits, int device_id,
                        bool writable) {
  if (v.device.device_type != kDLCUDA) {
    pyutil::value_error(std::string(name) + " must be on a CUDA device, got DLPack device type " +
                        std::to_string(v.device.device_type));
  }
  if (device_id >= 0 && v.device.device_id != device_id) {
    pyutil::value_error(std::string(name) + " must be on cuda:" + std::to_string(device_id) +
                        ", got cuda:" + std::to_string(v.device.device_id));
  }
  if (v.dtype.code != code || v.dtype.bits != bits) {
    DataType want{code, bits, 1};
    pyutil::type_error(std::string(name) + " must have dtype " + dtype_name(want) + ", got " +
                       dtype_name(v.dtype));
  }
  if (writable && v.read_only) {
    pyutil::value_error(std::string(name) + " must be writable (it is an output)");
  }
}

}  // namespace infotheory::dl

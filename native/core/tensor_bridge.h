// Zero-copy bridge between JavaScript TypedArrays and torch tensors.
//
// JS -> tensor: the tensor borrows the TypedArray's memory; it holds a JS reference to the
// array so the memory outlives garbage collection of the JS side, and drops that reference
// on the JS thread even when the tensor dies on a worker thread.
// tensor -> JS: a TypedArray over the tensor's own memory (an external ArrayBuffer that keeps
// the tensor alive), or over the original JS buffer when the tensor borrowed one. Memory that
// JavaScript cannot address directly (CUDA, non-contiguous) is copied.
#pragma once
#include <ATen/core/Tensor.h>
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

namespace lemur {

at::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(at::ScalarType type);

// `shape` empty means one dimension of the array's length. `as` reinterprets Uint16Array
// as bfloat16 or float16 (the only reinterpretation allowed). `what` names the argument in
// error messages.
at::Tensor borrow_typed_array(Napi::Env env, const Napi::TypedArray& array,
                              const std::vector<int64_t>& shape,
                              std::optional<at::ScalarType> as, const std::string& what);

// Borrow, then check dtype and the number of dimensions; used by the bindings for inputs.
at::Tensor borrow_checked(Napi::Env env, const Napi::Value& value, at::ScalarType dtype,
                          const std::vector<int64_t>& shape, const std::string& what);

Napi::Value export_tensor(Napi::Env env, const at::Tensor& tensor);

struct BridgeCounts {
  int64_t borrowed;  // tensors' JS buffers not yet released
  int64_t exported;  // JS buffers over tensor memory not yet collected
  int64_t wrapped;   // live Tensor objects
};
BridgeCounts bridge_counts();
void count_wrapped(int delta);

// The JS-thread side of releasing borrowed buffers (drains what other threads queued).
void drain_released_borrows(Napi::Env env);

}  // namespace lemur

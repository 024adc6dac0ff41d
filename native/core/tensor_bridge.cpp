#include "core/tensor_bridge.h"

#include <ATen/ATen.h>

#include <sstream>

#include "core/addon_env.h"
#include "core/js_error.h"

namespace lemur {

struct Borrow {
  AddonEnv* owner;
  Napi::Reference<Napi::TypedArray> array;  // keeps the JS memory alive
  uint8_t* base;                            // first byte of the typed array
  size_t byte_length;
  napi_typedarray_type type;
};

namespace {

std::atomic<int64_t> g_borrowed{0}, g_exported{0}, g_wrapped{0};

struct TypeInfo {
  napi_typedarray_type js;
  at::ScalarType torch;
  const char* js_name;
};

const TypeInfo kTypes[] = {
    {napi_float32_array, at::kFloat, "Float32Array"},
    {napi_float64_array, at::kDouble, "Float64Array"},
    {napi_int32_array, at::kInt, "Int32Array"},
    {napi_bigint64_array, at::kLong, "BigInt64Array"},
    {napi_uint8_array, at::kByte, "Uint8Array"},
    {napi_int8_array, at::kChar, "Int8Array"},
    {napi_int16_array, at::kShort, "Int16Array"},
    {napi_uint16_array, at::kBFloat16, "Uint16Array"},  // or kHalf, by request
};

const char* js_type_name(napi_typedarray_type t) {
  for (auto& ti : kTypes)
    if (ti.js == t) return ti.js_name;
  switch (t) {
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_uint32_array: return "Uint32Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

napi_typedarray_type js_type_for(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return napi_float32_array;
    case at::kDouble: return napi_float64_array;
    case at::kInt: return napi_int32_array;
    case at::kLong: return napi_bigint64_array;
    case at::kByte: case at::kBool: return napi_uint8_array;
    case at::kChar: return napi_int8_array;
    case at::kShort: return napi_int16_array;
    case at::kBFloat16: case at::kHalf: return napi_uint16_array;
    default:
      throw UserError("tensor of dtype " + dtype_name(t) + " has no TypedArray counterpart");
  }
}

void release_borrow(void* ctx) {
  auto* b = static_cast<Borrow*>(ctx);
  AddonEnv* env = b->owner;
  if (!env->alive.load()) {  // environment torn down: its references are gone with it
    b->array.SuppressDestruct();
    delete b;
    g_borrowed--;
    return;
  }
  if (std::this_thread::get_id() == env->js_thread) {
    delete b;
    g_borrowed--;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(env->pending_mu);
    env->pending_release.push_back(b);
  }
  env->release_tsfn.NonBlockingCall();
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

}  // namespace

void drain_released_borrows(Napi::Env env) {
  AddonEnv& e = AddonEnv::of(env);
  std::vector<Borrow*> todo;
  {
    std::lock_guard<std::mutex> lock(e.pending_mu);
    todo.swap(e.pending_release);
  }
  for (Borrow* b : todo) {
    delete b;
    g_borrowed--;
  }
}

at::ScalarType parse_dtype(const std::string& name) {
  static const std::pair<const char*, at::ScalarType> names[] = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"int32", at::kInt},
      {"int64", at::kLong},    {"uint8", at::kByte},     {"int8", at::kChar},
      {"int16", at::kShort},   {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},
      {"bool", at::kBool}};
  for (auto& [n, t] : names)
    if (name == n) return t;
  throw UserError("unknown dtype '" + name +
                  "' (expected float32, float64, int32, int64, uint8, int8, int16, bfloat16, "
                  "float16 or bool)");
}

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

at::Tensor borrow_typed_array(Napi::Env env, const Napi::TypedArray& array,
                              const std::vector<int64_t>& shape,
                              std::optional<at::ScalarType> as, const std::string& what) {
  napi_typedarray_type jt = array.TypedArrayType();
  const TypeInfo* info = nullptr;
  for (auto& ti : kTypes)
    if (ti.js == jt) info = &ti;
  if (!info)
    throw UserError(what + ": " + js_type_name(jt) +
                    " is not supported (use Float32Array, Float64Array, Int32Array, "
                    "BigInt64Array, Uint8Array, Int8Array, Int16Array, or Uint16Array for "
                    "bfloat16/float16)");
  at::ScalarType dtype = info->torch;
  if (as) {
    bool ok = *as == dtype || (jt == napi_uint16_array && (*as == at::kHalf || *as == at::kBFloat16)) ||
              (jt == napi_uint8_array && *as == at::kBool);
    if (!ok)
      throw UserError(what + ": a " + std::string(js_type_name(jt)) + " cannot hold dtype " +
                      dtype_name(*as) + " (expected " + dtype_name(dtype) + ")");
    dtype = *as;
  }
  Napi::Value buffer_value = array.Get("buffer");
  if (buffer_value.IsArrayBuffer() && buffer_value.As<Napi::ArrayBuffer>().IsDetached())
    throw UserError(what + ": the " + std::string(js_type_name(jt)) +
                    "'s ArrayBuffer is detached (transferred or released)");
  const int64_t length = static_cast<int64_t>(array.ElementLength());
  std::vector<int64_t> sizes = shape.empty() ? std::vector<int64_t>{length} : shape;
  int64_t numel = 1;
  for (int64_t s : sizes) {
    if (s < 0) throw UserError(what + ": negative dimension in shape " + shape_str(sizes));
    numel *= s;
  }
  if (numel != length)
    throw UserError(what + ": shape " + shape_str(sizes) + " needs " + std::to_string(numel) +
                    " elements, the " + js_type_name(jt) + " has " + std::to_string(length));
  napi_value ab;
  void* data = nullptr;
  size_t byte_offset = 0, len = 0;
  napi_typedarray_type t2;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, &t2, &len, &data, &ab, &byte_offset),
                       at::Tensor());
  // napi_get_typedarray_info's data already includes byteOffset.
  auto* b = new Borrow{&AddonEnv::of(env), Napi::Persistent(array), static_cast<uint8_t*>(data),
                       array.ByteLength(), jt};
  g_borrowed++;
  static uint8_t empty_byte = 0;
  void* ptr = data ? data : &empty_byte;
  try {
    return at::for_blob(ptr, sizes)
        .context(b, &release_borrow)
        .options(at::TensorOptions().dtype(dtype).device(at::kCPU))
        .make_tensor();
  } catch (...) {
    delete b;
    g_borrowed--;
    throw;
  }
}

at::Tensor borrow_checked(Napi::Env env, const Napi::Value& value, at::ScalarType dtype,
                          const std::vector<int64_t>& shape, const std::string& what) {
  if (!value.IsTypedArray())
    throw UserError(what + ": expected a TypedArray holding " + dtype_name(dtype) + ", got " +
                    (value.IsUndefined() ? "undefined" : value.IsArray() ? "a plain Array" : "another value"));
  auto arr = value.As<Napi::TypedArray>();
  auto expected = js_type_for(dtype);
  if (arr.TypedArrayType() != expected)
    throw UserError(what + ": expected " + js_type_name(expected) + " (" + dtype_name(dtype) +
                    "), got " + js_type_name(arr.TypedArrayType()));
  return borrow_typed_array(env, arr, shape,
                            dtype == at::kHalf || dtype == at::kBFloat16 || dtype == at::kBool
                                ? std::optional<at::ScalarType>(dtype)
                                : std::nullopt,
                            what);
}

Napi::Value export_tensor(Napi::Env env, const at::Tensor& input) {
  at::Tensor t = input.detach();
  if (!t.device().is_cpu()) t = t.cpu();
  if (!t.is_contiguous()) t = t.contiguous();
  napi_typedarray_type jt = js_type_for(t.scalar_type());
  const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  const size_t count = static_cast<size_t>(t.numel());

  // Memory that came from JavaScript goes back as a view of the same buffer.
  const auto& dp = t.storage().data_ptr();
  if (dp.get_deleter() == &release_borrow && t.numel() > 0) {
    auto* b = static_cast<Borrow*>(dp.get_context());
    if (b->owner == &AddonEnv::of(env)) {
      auto* start = static_cast<uint8_t*>(t.data_ptr());
      if (start == b->base && nbytes == b->byte_length && jt == b->type) return b->array.Value();
      Napi::TypedArray orig = b->array.Value();
      Napi::Value buf = orig.Get("buffer");
      if (buf.IsArrayBuffer()) {
        size_t offset = orig.ByteOffset() + static_cast<size_t>(start - b->base);
        napi_value out;
        NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, jt, count, buf, offset, &out),
                             Napi::Value());
        return Napi::Value(env, out);
      }
    }
  }
  if (nbytes == 0) {
    napi_value out;
    auto ab = Napi::ArrayBuffer::New(env, 0);
    NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, jt, 0, ab, 0, &out), Napi::Value());
    return Napi::Value(env, out);
  }
  auto* keep = new at::Tensor(t);
  g_exported++;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, t.data_ptr(), nbytes,
      [](Napi::Env, void*, at::Tensor* k) {
        delete k;
        g_exported--;
      },
      keep);
  napi_value out;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, jt, count, ab, 0, &out), Napi::Value());
  return Napi::Value(env, out);
}

BridgeCounts bridge_counts() { return {g_borrowed.load(), g_exported.load(), g_wrapped.load()}; }
void count_wrapped(int delta) { g_wrapped += delta; }

}  // namespace lemur

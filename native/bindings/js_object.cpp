#include "bindings/js_object.h"

#include <cmath>

#include "core/js_error.h"

namespace lemur {

namespace {
std::string kind(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  return "an object";
}
}  // namespace

bool JsObject::has(const char* key) const {
  Napi::Value v = o_.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

JsObject JsObject::object(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsObject() || v.IsArray()) throw UserError(field(key) + ": expected an object, got " + kind(v));
  return JsObject(v.As<Napi::Object>(), field(key));
}

std::vector<JsObject> JsObject::objects(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsArray()) throw UserError(field(key) + ": expected an array, got " + kind(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<JsObject> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    std::string p = field(key) + "[" + std::to_string(i) + "]";
    if (!e.IsObject()) throw UserError(p + ": expected an object, got " + kind(e));
    out.emplace_back(e.As<Napi::Object>(), p);
  }
  return out;
}

int64_t JsObject::integer(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsNumber()) throw UserError(field(key) + ": expected an integer, got " + kind(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d)) throw UserError(field(key) + ": expected an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

double JsObject::number(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsNumber()) throw UserError(field(key) + ": expected a number, got " + kind(v));
  return v.As<Napi::Number>().DoubleValue();
}

bool JsObject::boolean(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsBoolean()) throw UserError(field(key) + ": expected a boolean, got " + kind(v));
  return v.As<Napi::Boolean>().Value();
}

std::string JsObject::string(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsString()) throw UserError(field(key) + ": expected a string, got " + kind(v));
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> JsObject::integers(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (!v.IsArray()) throw UserError(field(key) + ": expected an array of integers, got " + kind(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw UserError(field(key) + "[" + std::to_string(i) + "]: expected an integer, got " + kind(e));
    out.push_back(e.As<Napi::Number>().Int64Value());
  }
  return out;
}

}  // namespace lemur

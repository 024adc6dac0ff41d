// Reading plain JS objects (configurations, column sets) with type checks whose errors name
// the dotted path of the offending field.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

namespace lemur {

class JsObject {
 public:
  JsObject(Napi::Object object, std::string path) : o_(object), path_(std::move(path)) {}

  bool has(const char* key) const;
  Napi::Value get(const char* key) const { return o_.Get(key); }
  JsObject object(const char* key) const;
  std::vector<JsObject> objects(const char* key) const;  // an array of objects
  int64_t integer(const char* key) const;
  int64_t integer(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  double number(const char* key) const;
  double number(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }
  bool boolean(const char* key) const;
  bool boolean(const char* key, bool fallback) const { return has(key) ? boolean(key) : fallback; }
  std::string string(const char* key) const;
  std::string string(const char* key, const std::string& fallback) const { return has(key) ? string(key) : fallback; }
  std::vector<int64_t> integers(const char* key) const;
  std::string field(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const Napi::Object& value() const { return o_; }

 private:
  Napi::Object o_;
  std::string path_;
};

}  // namespace lemur
